package libvirtsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// collector is a Follower's Handle that keeps the lines.
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) handle(_ context.Context, l []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(l))
}

func (c *collector) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// run starts a follower and returns its stop function.
func run(t *testing.T, f *Follower) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	return func() { cancel(); <-done }
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls until the collector has want lines (no sleeps for sync:
// it returns as soon as they are there).
func waitFor(t *testing.T, c *collector, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Equal(c.get(), want) {
		if time.Now().After(deadline) || len(c.get()) > len(want) {
			t.Fatalf("lines %q, want %q", c.get(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func write(t *testing.T, path string, from, to int) {
	s := ""
	for _, l := range numbered(from, to) {
		s += l + "\n"
	}
	appendTo(t, path, s)
}

func TestFollowRotationTruncationPartialLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	write(t, log, 1, 2)
	c := &collector{}
	f := &Follower{Path: log, StatePath: filepath.Join(dir, "pos"), FromStart: true, Poll: 5 * time.Millisecond, Handle: c.handle, Log: logr.Discard()}
	stop := run(t, f)
	defer stop()
	waitFor(t, c, numbered(1, 2))

	// A partial line waits for its end.
	appendTo(t, log, "line 3 first half,")
	write(t, log, 4, 4) // completes the partial line... as "line 3 first half,line 4"
	want := append(numbered(1, 2), "line 3 first half,line 4")
	waitFor(t, c, want)

	// Rotation: lines written to the old file just before the rename are
	// read, then the new file from its start.
	write(t, log, 5, 6)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, log, 7, 8)
	want = append(want, numbered(5, 8)...)
	waitFor(t, c, want)

	// Truncation: read again from the start.
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	// Wait until the follower saw the truncation (its position is reset),
	// then write.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "pos"))
		if string(b) != "" && f.Position().Offset == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	write(t, log, 9, 9)
	want = append(want, numbered(9, 9)...)
	waitFor(t, c, want)
}

func TestFollowRestartMidFileAndRotationWhileStopped(t *testing.T) {
	dir := t.TempDir()
	log, pos := filepath.Join(dir, "audit.log"), filepath.Join(dir, "pos")
	write(t, log, 1, 3)
	c := &collector{}
	newFollower := func() *Follower {
		return &Follower{Path: log, StatePath: pos, FromStart: true, Poll: 5 * time.Millisecond, Handle: c.handle, Log: logr.Discard()}
	}
	stop := run(t, newFollower())
	waitFor(t, c, numbered(1, 3))
	stop()

	// While stopped: more lines, a restart goes on after line 3.
	write(t, log, 4, 5)
	stop = run(t, newFollower())
	waitFor(t, c, numbered(1, 5))
	stop()

	// While stopped: more lines, then rotation, then lines in the new file.
	write(t, log, 6, 7)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, log, 8, 9)
	stop = run(t, newFollower())
	waitFor(t, c, numbered(1, 9))
	write(t, log, 10, 10)
	waitFor(t, c, numbered(1, 10))
	stop()
}

func TestFollowFromEndWithoutPosition(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	write(t, log, 1, 3)
	c := &collector{}
	f := &Follower{Path: log, Poll: 5 * time.Millisecond, Handle: c.handle, Log: logr.Discard()}
	stop := run(t, f)
	defer stop()
	// Wait until it has looked at the file, then write.
	for f.Position().Inode == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	write(t, log, 4, 4)
	waitFor(t, c, numbered(4, 4))
}

func TestAuditMalformedLinesLoseNothingElse(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	p := publishtest.NewRecorder(vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "tiny", UID: "u1"},
		Spec:       vmv1.VirtualMachineSpec{NodeName: "n1", UUID: testUUID},
	})
	// Shared tenancy: the records' domain is not named "default.*".
	a, err := NewAudit(p, AuditConfig{Path: log, StatePath: filepath.Join(dir, "pos"), FromStart: true, Sender: recordedSender(t, 7616), Tenancy: source.Tenancy{Shared: true}})
	if err != nil {
		t.Fatal(err)
	}
	a.follower.Poll = 5 * time.Millisecond
	before := testutil.ToFloat64(malformed.WithLabelValues("audit"))
	good := line(audit.TypeControl, "op=start reason=booted", "vm-pid=8", "success")
	cut := good[:80]
	appendTo(t, log, "garbage\n"+good+"\n"+cut+"\n"+
		"type=SYSCALL msg=audit(1.0:1): arch=c000003e syscall=59\n"+
		line(audit.TypeResource, "resrc=disk reason=start", "old-disk=\"?\" new-disk=\"/a.img\"", "success")+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Start(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for len(p.Occurrences()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	occs := p.Occurrences()
	if len(occs) != 2 || occs[0].Reason != ReasonStart || occs[1].Reason != "LibvirtResourceDisk" {
		t.Fatalf("occurrences %+v", occs)
	}
	if got := testutil.ToFloat64(malformed.WithLabelValues("audit")) - before; got != 2 {
		t.Errorf("malformed counted %v, want 2", got)
	}
}
