package lxdsource

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vmevents/vmevents/test/framework/poll"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// lxdVM is a VirtualMachine naming an instance, in the namespace named
// like its project (the default tenancy grants it no other).
func lxdVM(name, instance, project string) vmv1.VirtualMachine {
	ns := project
	if ns == "" {
		ns = "default"
	}
	return vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec:       vmv1.VirtualMachineSpec{NodeName: "n1", LXD: &vmv1.LXDSource{Instance: instance, Project: project}},
	}
}

func TestHandleRoutesAndFollowsRenames(t *testing.T) {
	p := publishtest.NewRecorder(lxdVM("a", "c1", ""), lxdVM("b", "c3", "p1"))
	s := New(p, Config{Socket: "/run/lxd.socket", Log: logr.Discard()})
	s.up = true
	ctx := context.Background()
	before := counterValue(unmatched)
	malformedBefore := counterValue(framesMalformed.WithLabelValues("invalid"))
	for _, tc := range recorded {
		s.Handle(ctx, []byte(tc.frame), received)
	}
	s.Handle(ctx, []byte(`{"type":"lifecycle","metadata":{"action":"!"}}`), received)
	s.Handle(ctx, []byte("\xff\x00garbage"), received)

	var onA, onB, onNode []string
	for _, e := range p.Published() {
		switch e.Regarding.Name {
		case "a":
			onA = append(onA, e.Occurrence.Reason)
		case "b":
			onB = append(onB, e.Occurrence.Reason)
		case "n1":
			onNode = append(onNode, e.Occurrence.Reason)
		}
	}
	// c1 is renamed c2, then c2 deleted: all of it is a's.
	wantA := []string{"InstanceCreated", "InstanceStarted", "InstancePaused", "InstanceExec", "InstanceSnapshotCreated", "InstanceRenamed", "InstanceDeleted"}
	if strings.Join(onA, ",") != strings.Join(wantA, ",") {
		t.Errorf("on a: %v, want %v", onA, wantA)
	}
	if strings.Join(onB, ",") != "InstanceStarted" || strings.Join(onNode, ",") != "ProjectCreated,NetworkACLRenamed,OperationFailed,LogWarning" {
		t.Errorf("on b: %v, on the node: %v", onB, onNode)
	}
	for _, e := range p.Published() {
		if e.Regarding.Name == "a" && e.Occurrence.Reason == "InstanceDeleted" && !strings.Contains(e.Occurrence.Note, "names the instance c1 (spec.lxd.instance) and follows it") {
			t.Errorf("the note of an event under the new name does not say so: %q", e.Occurrence.Note)
		}
	}
	// The failed start of f1 names no VM.
	if d := counterValue(unmatched) - before; d != 1 {
		t.Errorf("unmatched += %v, want 1", d)
	}
	if d := counterValue(framesMalformed.WithLabelValues("invalid")) - malformedBefore; d != 2 {
		t.Errorf("malformed += %v, want 2", d)
	}
	a := p.FactsOf("default", "a")
	if a.RunState != vmv1.RunStateShutdown || a.RunStateReason != "Deleted" || a.EventCounts["instance-exec"] != 1 ||
		a.Monitor.Source != "lxd" || a.Monitor.State != vmv1.MonitorConnected || a.Monitor.VMName != "c2" {
		t.Errorf("facts of a: %+v", a)
	}
	if b := p.FactsOf("p1", "b"); b.RunState != vmv1.RunStateRunning || b.EventCounts["instance-started"] != 1 {
		t.Errorf("facts of b: %+v", b)
	}
}

// fakeLXD serves /1.0/events as a websocket writing the frames it is given
// (raw, so tests can send anything), and /1.0/instances.
type fakeLXD struct {
	t      *testing.T
	socket string
	ln     net.Listener
	srv    *http.Server
	conns  chan net.Conn
	pongs  chan []byte

	mu sync.Mutex
	// server and instances are the metadata of GET /1.0 and GET
	// /1.0/instances (a standalone LXD with c1 frozen unless set).
	server, instances string
}

// serve sets what GET /1.0 and GET /1.0/instances answer.
func (l *fakeLXD) serve(server, instances string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.server, l.instances = server, instances
}

func (l *fakeLXD) metadata(w http.ResponseWriter, which *string) {
	l.mu.Lock()
	md := *which
	l.mu.Unlock()
	_, _ = io.WriteString(w, `{"type":"sync","status":"Success","metadata":`+md+`}`)
}

func startFakeLXD(t *testing.T, socket string) *fakeLXD {
	l := &fakeLXD{t: t, socket: socket, conns: make(chan net.Conn, 4), pongs: make(chan []byte, 4),
		server:    `{"environment":{"server_name":"host1","server_clustered":false}}`,
		instances: `[{"name":"c1","project":"default","status":"Frozen","location":"none"}]`}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	l.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/1.0/instances", func(w http.ResponseWriter, r *http.Request) { l.metadata(w, &l.instances) })
	mux.HandleFunc("/1.0", func(w http.ResponseWriter, r *http.Request) { l.metadata(w, &l.server) })
	mux.HandleFunc("/1.0/events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("type") != "lifecycle,operation,logging" || r.URL.Query().Get("all-projects") != "true" {
			http.Error(w, "bad query "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + wsGUID))
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
		_ = rw.Flush()
		go l.readClient(bufio.NewReader(conn))
		l.conns <- conn
	})
	l.srv = &http.Server{Handler: mux}
	go func() { _ = l.srv.Serve(ln) }()
	return l
}

// readClient reads the client's (masked) frames and keeps pongs.
func (l *fakeLXD) readClient(r *bufio.Reader) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		n := int(h[1] & 0x7f)
		var mask [4]byte
		if h[1]&0x80 == 0 {
			l.t.Error("unmasked client frame")
			return
		}
		_, _ = io.ReadFull(r, mask[:])
		p := make([]byte, n)
		_, _ = io.ReadFull(r, p)
		for i := range p {
			p[i] ^= mask[i%4]
		}
		if h[0]&0x0f == opPong {
			l.pongs <- p
		}
	}
}

func (l *fakeLXD) stop() { _ = l.srv.Close(); _ = os.Remove(l.socket) }

// frame is a server frame.
func frame(fin bool, op byte, payload []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

func TestStreamReconnectAndWire(t *testing.T) {
	dir, err := os.MkdirTemp("", "lxdsrc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "unix.socket")
	l := startFakeLXD(t, socket)
	p := publishtest.NewRecorder(lxdVM("a", "c1", ""))
	s := New(p, Config{Socket: socket, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		RefreshInterval: 20 * time.Millisecond, MaxMessageBytes: 4096, Log: logr.Discard()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Start(ctx) }()
	defer func() { cancel(); <-done }()

	conn := <-l.conns
	poll.Until(t, "connected with the synced state", func() bool {
		f := p.FactsOf("default", "a")
		return f.Monitor.State == vmv1.MonitorConnected && f.RunState == vmv1.RunStatePaused && f.RunStateReason == "Frozen"
	})
	tooLargeBefore := counterValue(framesMalformed.WithLabelValues("too-large"))
	started := lifecycleFrame("instance-started", "/1.0/instances/c1", true, nil)
	var wire []byte
	wire = append(wire, frame(true, opPing, []byte("hb"))...)
	wire = append(wire, frame(true, opText, make([]byte, 5000))...)   // over the limit: skipped
	wire = append(wire, frame(false, opText, started[:10])...)        // fragmented...
	wire = append(wire, frame(true, opPing, nil)...)                  // ...with a ping inside
	wire = append(wire, frame(true, opContinuation, started[10:])...) // ...and completed
	wire = append(wire, frame(true, opText, []byte(`{"type":`))...)   // malformed: skipped
	wire = append(wire, frame(true, opText, lifecycleFrame("instance-paused", "/1.0/instances/c1", false, nil))...)
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	if got := <-l.pongs; string(got) != "hb" {
		t.Errorf("pong %q", got)
	}
	poll.Until(t, "both events", func() bool { return p.FactsOf("default", "a").EventCounts["instance-paused"] == 1 })
	if f := p.FactsOf("default", "a"); f.EventCounts["instance-started"] != 1 || f.RunState != vmv1.RunStatePaused {
		t.Errorf("facts %+v", f)
	}
	if d := counterValue(framesMalformed.WithLabelValues("too-large")) - tooLargeBefore; d != 1 {
		t.Errorf("too-large += %v", d)
	}

	// LXD goes away: Disconnected with the error, then back.
	l.stop()
	_ = conn.Close()
	poll.Until(t, "disconnected", func() bool {
		f := p.FactsOf("default", "a")
		return f.Monitor.State == vmv1.MonitorDisconnected && f.Monitor.LastError != ""
	})
	l = startFakeLXD(t, socket)
	defer l.stop()
	conn = <-l.conns
	poll.Until(t, "reconnected", func() bool {
		f := p.FactsOf("default", "a")
		return f.Monitor.State == vmv1.MonitorConnected && f.Monitor.Reconnects == 1 && f.Monitor.LastError == ""
	})
	// A VM created while connected is told so at the next refresh.
	p.AddVM(lxdVM("late", "c9", ""))
	poll.Until(t, "the new VM told", func() bool {
		f := p.FactsOf("default", "late")
		return f.Monitor.State == vmv1.MonitorConnected && f.RunState == vmv1.RunStateUnknown
	})
	if _, err := conn.Write(frame(true, opText, lifecycleFrame("instance-started", "/1.0/instances/c1", false, nil))); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "an event after the reconnect", func() bool { return p.FactsOf("default", "a").EventCounts["instance-started"] == 2 })
	// A close frame ends the stream cleanly; the source reconnects.
	_, _ = conn.Write(frame(true, opClose, []byte{0x03, 0xe8}))
	conn = <-l.conns
	poll.Until(t, "second reconnect", func() bool { return p.FactsOf("default", "a").Monitor.Reconnects == 2 })
	_ = conn
}

func TestProtocolErrorsEndTheStream(t *testing.T) {
	for name, wire := range map[string][]byte{
		"masked":             {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"reserved bits":      {0xC1, 0x00},
		"bad opcode":         {0x83, 0x00},
		"lone continuation":  {0x80, 0x00},
		"long control":       append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
		"truncated":          {0x81, 0x05, 'a'},
		"huge length":        {0x81, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"new message inside": {0x01, 0x01, 'a', 0x81, 0x01, 'b'},
	} {
		c1, c2 := net.Pipe()
		go func() { _, _ = c2.Write(wire); _ = c2.Close() }()
		ws := &wsConn{conn: c1, r: bufio.NewReader(c1), max: 1024}
		msg, err := ws.ReadMessage()
		if err == nil || errors.Is(err, ErrMessageTooLarge) {
			t.Errorf("%s: message %q, err %v", name, msg, err)
		}
		_ = c1.Close()
	}
}

// FuzzFrame feeds anything to the translation and the source: no panic,
// and whatever is published is bounded, valid UTF-8 and free of control
// characters.
func FuzzFrame(f *testing.F) {
	for _, tc := range recorded {
		f.Add([]byte(tc.frame))
	}
	for _, m := range mappings[:10] {
		f.Add(lifecycleFrame(m.action, m.source, true, map[string]any{"old_name": "x", "command": []string{"a"}}))
	}
	f.Add([]byte(`{"type":"logging","metadata":{"message":"m","level":"error","context":{"instance":"c1"}}}`))
	f.Add([]byte(`{"type":"lifecycle","metadata":{"action":"instance-renamed","source":"/1.0/instances/%ff?project=%00","context":{"old_name":"c1"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := publishtest.NewRecorder(lxdVM("a", "c1", ""))
		s := New(p, Config{Socket: "/s", Log: logr.Discard()})
		s.Handle(context.Background(), data, received)
		s.Handle(context.Background(), data, received)
		for _, e := range p.Published() {
			o := e.Occurrence
			for _, str := range []string{o.Note, o.Series, o.Action, o.Reason} {
				if !utf8.ValidString(str) || strings.ContainsFunc(str, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("unclean %q", str)
				}
			}
			if len(o.Note) > model.MaxNoteBytes || len(o.Series) > model.MaxFieldBytes || len(o.Reason) > 128 {
				t.Fatalf("unbounded %+v", o)
			}
		}
		for _, f := range p.AllFacts() {
			if len(f.Monitor.VMName) > 256 || !utf8.ValidString(f.Monitor.VMName) {
				t.Fatalf("VMName %q", f.Monitor.VMName)
			}
		}
		// The same bytes as a websocket stream.
		c1, c2 := net.Pipe()
		go func() { _, _ = c2.Write(data); _ = c2.Close() }()
		ws := &wsConn{conn: c1, r: bufio.NewReader(c1), max: 512}
		for i := 0; i < 64; i++ {
			msg, err := ws.ReadMessage()
			if len(msg) > 512 {
				t.Fatalf("message of %d bytes over the limit", len(msg))
			}
			if err != nil && !errors.Is(err, ErrMessageTooLarge) {
				break
			}
		}
		_ = c1.Close()
	})
}

func TestDiscoveryCreatesAVirtualMachinePerUnwatchedInstance(t *testing.T) {
	p := publishtest.NewRecorder(lxdVM("a", "c1", ""))
	s := New(p, Config{Socket: "/run/lxd.socket", DiscoverNamespace: "p1", Log: logr.Discard()})
	s.up = true
	s.states = map[Instance]runState{
		{Project: DefaultProject, Name: "c1"}:   {vmv1.RunStateRunning, "Running"},  // watched by a
		{Project: "p1", Name: "c1"}:             {vmv1.RunStateRunning, "Running"},  // same name, other project
		{Project: DefaultProject, Name: "gone"}: {vmv1.RunStateShutdown, "Deleted"}, // deleted: not discovered
		{Project: "p2", Name: "c2"}:             {vmv1.RunStateRunning, "Running"},  // a project p1 is not granted
	}
	s.refresh(context.Background())

	created := p.Created()
	if len(created) != 1 {
		t.Fatalf("created %d VirtualMachines, want 1: %+v", len(created), created)
	}
	vm := created[0]
	if vm.Namespace != "p1" || vm.Spec.NodeName != "n1" || vm.Spec.LXD.Instance != "c1" || vm.Spec.LXD.Project != "p1" ||
		!strings.HasPrefix(vm.Name, "c1-") {
		t.Errorf("created %+v", vm)
	}
}
