package qmpagent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vmevents/vmevents/test/framework/poll"
)

// recordingWriter blocks its first write until released and records every
// value written.
type recordingWriter struct {
	mu      sync.Mutex
	written []int
	started chan struct{}
	release chan struct{}
	fail    int  // fail this many writes first
	blocked bool // the first write has been held
}

func (w *recordingWriter) write(_ context.Context, _ string, v int) error {
	w.mu.Lock()
	first := !w.blocked && w.started != nil
	w.blocked = true
	w.mu.Unlock()
	if first {
		close(w.started)
		<-w.release
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail > 0 {
		w.fail--
		return errors.New("apiserver unavailable")
	}
	w.written = append(w.written, v)
	return nil
}

func (w *recordingWriter) values() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.written...)
}

func TestCoalescerWritesOnlyTheNewestValueOfAStorm(t *testing.T) {
	w := &recordingWriter{started: make(chan struct{}), release: make(chan struct{})}
	c := NewCoalescer("test", 0, w.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 2) }()
	defer func() { cancel(); <-done }()

	c.Put("vm", 0)
	<-w.started // the first write is in flight
	for i := 1; i <= 10000; i++ {
		c.Put("vm", i)
	}
	close(w.release)
	poll.Until(t, "the newest value written", func() bool {
		v := w.values()
		return len(v) > 0 && v[len(v)-1] == 10000
	})
	if got := w.values(); len(got) != 2 || got[0] != 0 {
		t.Errorf("writes %v, want the first value and then only the newest", got)
	}
}

func TestCoalescerRetriesFailedWritesWithTheNewestValue(t *testing.T) {
	w := &recordingWriter{fail: 3}
	c := NewCoalescer("test", 0, w.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done }()

	c.Put("vm", 1)
	c.Put("vm", 2)
	poll.Until(t, "a successful write", func() bool { return len(w.values()) > 0 })
	if got := w.values(); got[len(got)-1] != 2 {
		t.Errorf("writes %v, want the newest value 2 last", got)
	}
	if s := c.Stats(); s.Failures != 3 {
		t.Errorf("failures %d, want 3", s.Failures)
	}
}

func TestCoalescerFlushesPendingValuesAtShutdown(t *testing.T) {
	w := &recordingWriter{}
	c := NewCoalescer("test", time.Hour, w.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()

	c.Put("vm", 1)
	poll.Until(t, "the first write", func() bool { return len(w.values()) == 1 })
	c.Put("vm", 2) // held back by the hour-long interval
	cancel()
	<-done
	if got := w.values(); len(got) != 2 || got[1] != 2 {
		t.Errorf("writes %v, want the held-back value flushed at shutdown", got)
	}
}

func TestCoalescerPutLaterRidesAlongWithTheNextPut(t *testing.T) {
	w := &recordingWriter{}
	c := NewCoalescer("test", 0, w.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done }()

	// A routine value may wait an hour; an urgent one after it is not held
	// back, and one write carries both.
	c.PutLater("vm", 1, time.Hour)
	c.PutLater("vm", 2, time.Hour)
	c.Put("vm", 3)
	poll.Until(t, "the urgent write", func() bool { return len(w.values()) > 0 })
	// A routine value alone is written once its delay is over.
	c.PutLater("other", 7, time.Millisecond)
	poll.Until(t, "the delayed write", func() bool { return len(w.values()) > 1 })
	if got := w.values(); len(got) != 2 || got[0] != 3 || got[1] != 7 {
		t.Errorf("writes %v, want [3 7]", got)
	}
	if c.Pending("vm") {
		t.Error("the routine values were not written with the urgent one")
	}
}

// When more is due than the writers can write, every urgent value goes
// before every routine one, whatever the order they were put in; a routine
// value made urgent while it waits moves up too.
func TestCoalescerWritesTheUrgentLaneFirst(t *testing.T) {
	w := &recordingWriter{started: make(chan struct{}), release: make(chan struct{})}
	c := NewCoalescer("test", 0, w.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done }()

	c.Put("busy", 0)
	<-w.started // the only writer is busy: everything below waits
	for i, key := range []string{"r1", "r2", "r3", "r4"} {
		c.Put(key, 10+i)
	}
	c.PutUrgent("u1", 100)
	c.Put("u2", 20)
	c.PutUrgent("u2", 101) // was routine, now urgent
	c.Put("r5", 14)
	close(w.release)
	poll.Until(t, "every write", func() bool { return len(w.values()) == 8 })
	got := w.values()
	want := []int{0, 100, 101, 10, 11, 12, 13, 14}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("writes %v, want %v (the urgent ones right after the write in flight)", got, want)
		}
	}
}

func TestCoalescerAllowsABurstOfTwoThenOnePerInterval(t *testing.T) {
	c := NewCoalescer("test", time.Hour, (&recordingWriter{}).write)
	now := time.Now()
	steps := []struct {
		name string
		wait bool // the next write must wait
	}{
		{"first write", false},
		{"second write at once", false},
		{"third write", true},
	}
	for _, st := range steps {
		c.mu.Lock()
		w := c.waitLocked("vm")
		c.mu.Unlock()
		if (w > 0) != st.wait {
			t.Fatalf("%s: wait %v, want waiting=%v", st.name, w, st.wait)
		}
		c.mu.Lock()
		c.recordWriteLocked("vm", now)
		c.mu.Unlock()
	}
	// Two intervals after the first two, a write goes again at once.
	c.mu.Lock()
	c.lastWrites["vm"] = [burstWrites]time.Time{now.Add(-2 * time.Hour), now.Add(-90 * time.Minute)}
	w := c.waitLocked("vm")
	c.mu.Unlock()
	if w > 0 {
		t.Errorf("after a quiet spell: wait %v", w)
	}
}

func TestCoalescerDoesNotRetryAKeyForgottenDuringItsWrite(t *testing.T) {
	w := &recordingWriter{started: make(chan struct{}), release: make(chan struct{}), fail: 1}
	c := NewCoalescer("test", 0, w.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done }()

	c.Put("vm", 1)
	<-w.started // in flight
	c.Forget("vm")
	close(w.release) // and it fails
	poll.Until(t, "the write to return", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.inflight["vm"]
	})
	if c.Pending("vm") {
		t.Error("a key forgotten during its failed write is queued again")
	}
}
