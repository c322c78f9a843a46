package lxdsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmevents/vmevents/test/framework/poll"

	"github.com/go-logr/logr"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// followFake runs a source with cfg against a fake LXD set up by setup,
// and returns the fake and the stream's first connection.
func followFake(t *testing.T, p *publishtest.Recorder, cfg Config, setup func(*fakeLXD)) (*fakeLXD, *wsTestConn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lxdsrc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cfg.Socket = filepath.Join(dir, "unix.socket")
	l := startFakeLXD(t, cfg.Socket)
	t.Cleanup(l.stop)
	if setup != nil {
		setup(l)
	}
	cfg.MinBackoff, cfg.MaxBackoff, cfg.RefreshInterval, cfg.Log = 10*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond, logr.Discard()
	s := New(p, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l, &wsTestConn{t: t, conn: <-l.conns}
}

// wsTestConn writes LXD's frames to the source.
type wsTestConn struct {
	t    *testing.T
	conn interface{ Write([]byte) (int, error) }
}

func (c *wsTestConn) send(frames ...string) {
	c.t.Helper()
	for _, f := range frames {
		if _, err := c.conn.Write(frame(true, opText, []byte(f))); err != nil {
			c.t.Fatal(err)
		}
	}
}

// Frames recorded from LXD 5.0.2 after `lxc cluster enable m1`: every
// event of the member carries its name in location. LXD keeps the
// location of the events it forwards from other members, so those of a
// member m2 are the same frames with "location":"m2".
const (
	m1Started = `{"location":"m1","metadata":{"action":"instance-started","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0/instances/c1c"},"project":"default","timestamp":"2026-11-29T01:24:14.013293094Z","type":"lifecycle"}`
	m1Paused  = `{"location":"m1","metadata":{"action":"instance-paused","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0/instances/c1c"},"project":"default","timestamp":"2026-11-29T01:24:15.053971099Z","type":"lifecycle"}`
	m1Config  = `{"location":"m1","metadata":{"action":"config-updated","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0"},"project":"default","timestamp":"2026-11-29T01:24:12.682022792Z","type":"lifecycle"}`
	m1Failed  = `{"location":"m1","metadata":{"class":"task","description":"Starting instance","err":"boom","id":"x","location":"m1","resources":{"instances":["/1.0/instances/c1c"]},"status":"Failure","status_code":400},"project":"default","timestamp":"2026-11-29T01:24:16Z","type":"operation"}`
	m1Warning = `{"location":"m1","metadata":{"context":{"driver":"bridge","network":"br9","project":"default"},"level":"warning","message":"Failed enabling VLAN filtering"},"timestamp":"2026-11-29T01:24:02.765558838Z","type":"logging"}`
	// clusterEnabled is sent before the member has its name: "none".
	clusterEnabled = `{"location":"none","metadata":{"action":"cluster-enabled","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0/cluster/m1"},"project":"default","timestamp":"2026-11-29T01:24:13.28295857Z","type":"lifecycle"}`
)

func onMember(frame, member string) string {
	return strings.ReplaceAll(frame, `"location":"m1"`, `"location":"`+member+`"`)
}

func reasonsOn(p *publishtest.Recorder, name string) []string {
	var out []string
	for _, e := range p.Published() {
		if e.Regarding.Name == name {
			out = append(out, e.Occurrence.Reason+"/"+e.Occurrence.EventType())
		}
	}
	return out
}

func TestClusterMemberTakesOnlyItsOwnEvents(t *testing.T) {
	p := publishtest.NewRecorder(lxdVM("a", "c1c", ""), lxdVM("b", "d9", ""))
	_, ws := followFake(t, p, Config{DiscoverNamespace: "found"}, func(l *fakeLXD) {
		l.serve(`{"environment":{"server_name":"m1","server_clustered":true}}`,
			`[{"name":"c1c","project":"default","status":"Running","location":"m1"},
			  {"name":"d9","project":"default","status":"Frozen","location":"m2"},
			  {"name":"e7","project":"default","status":"Running","location":"m2"}]`)
	})
	poll.Until(t, "c1c's state, read from its member", func() bool {
		f := p.FactsOf("default", "a")
		return f.Monitor.State == vmv1.MonitorConnected && f.RunState == vmv1.RunStateRunning
	})
	before := counterValue(otherMember)
	// Another member's events first: when m1's last one is told, they
	// have all been handled.
	ws.send(onMember(m1Paused, "m2"), onMember(m1Config, "m2"), onMember(m1Failed, "m2"), onMember(m1Warning, "m2"),
		m1Paused, m1Config, m1Failed, m1Warning)
	poll.Until(t, "m1's events", func() bool { return len(reasonsOn(p, "n1")) == 2 })

	if got := strings.Join(reasonsOn(p, "a"), ","); got != "InstancePaused/Normal,OperationFailed/Warning" {
		t.Errorf("on a: %s", got)
	}
	if got := strings.Join(reasonsOn(p, "n1"), ","); got != "ConfigUpdated/Normal,LogWarning/Warning" {
		t.Errorf("on the node: %s", got)
	}
	if d := counterValue(otherMember) - before; d != 4 {
		t.Errorf("other member's events += %v, want 4", d)
	}
	f := p.FactsOf("default", "a")
	if f.RunState != vmv1.RunStatePaused || f.RunStateReason != "Frozen" || f.EventCounts["instance-paused"] != 1 {
		t.Errorf("facts of a: %+v", f)
	}
	// d9 lives on m2: neither its state nor discovery is this agent's.
	if f := p.FactsOf("default", "b"); f.RunState != vmv1.RunStateUnknown || f.RunStateReason != "NotFound" {
		t.Errorf("facts of b: %+v", f)
	}
	if c := p.Created(); len(c) != 0 {
		t.Errorf("discovered another member's instances: %+v", c)
	}
}

func TestClusterEnabledWhileFollowing(t *testing.T) {
	p := publishtest.NewRecorder(lxdVM("a", "c1c", ""))
	l, ws := followFake(t, p, Config{}, nil)
	poll.Until(t, "connected", func() bool { return p.FactsOf("default", "a").Monitor.State == vmv1.MonitorConnected })
	before := counterValue(otherMember)
	// `lxc cluster enable m1`: LXD is member m1 from now on.
	l.serve(`{"environment":{"server_name":"m1","server_clustered":true}}`, `[]`)
	ws.send(clusterEnabled, m1Started)
	poll.Until(t, "the member's event after clustering", func() bool { return p.FactsOf("default", "a").EventCounts["instance-started"] == 1 })
	if got := strings.Join(reasonsOn(p, "n1"), ","); got != "ClusterEnabled/Normal" {
		t.Errorf("on the node: %s", got)
	}
	if d := counterValue(otherMember) - before; d != 0 {
		t.Errorf("other member's events += %v", d)
	}
}

func TestOurs(t *testing.T) {
	for _, tc := range []struct {
		member, location string
		want             bool
	}{
		{"", "none", true}, {"", "", true}, {"", "m1", false},
		{"m1", "m1", true}, {"m1", "m2", false}, {"m1", "none", true}, {"m1", "", true}, {"m1", "M1", false},
	} {
		s := &Source{member: tc.member}
		if got := s.ours(tc.location); got != tc.want {
			t.Errorf("member %q location %q: %v, want %v", tc.member, tc.location, got, tc.want)
		}
	}
}
