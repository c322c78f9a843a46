package qmpagent

import (
	"context"
	"testing"

	"github.com/vmevents/vmevents/test/framework/poll"
)

// A worker waiting at the gate with a routine value makes way for an
// urgent value put meanwhile, and the routine value, put back, is written
// once the gate has room: nothing lost, nothing written twice.
func TestCoalescerUrgentValueNeverWaitsForAWorker(t *testing.T) {
	g := NewWriteGate(8, 4)
	slowApiserver(g)
	ctx := context.Background()
	for range routineMin { // the routine places, taken by another writer
		if err := g.Enter(ctx, LaneEvents); err != nil {
			t.Fatal(err)
		}
	}
	w := &recordingWriter{}
	c := NewCoalescer("test", 0, w.write)
	c.UseGate(g, LaneCounters)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx, 1) }()
	defer func() { cancel(); <-done }()

	c.Put("routine", 1)
	poll.Until(t, "the only worker to wait at the gate", func() bool { return g.waiters() == 1 })
	c.PutUrgent("urgent", 2)
	poll.Until(t, "the urgent write", func() bool { return len(w.values()) == 1 })
	if got := w.values(); got[0] != 2 {
		t.Fatalf("wrote %v first, want the urgent 2", got)
	}
	g.Leave(LaneEvents) // room for the routine value again
	poll.Until(t, "the routine write", func() bool { return len(w.values()) == 2 })
	if got := w.values(); got[1] != 1 {
		t.Fatalf("writes %v, want [2 1]", got)
	}
	if st := c.Stats(); st.Writes != 2 || st.Failures != 0 {
		t.Fatalf("stats %+v, want 2 writes and no failure", st)
	}
}
