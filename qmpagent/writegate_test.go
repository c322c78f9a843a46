package qmpagent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vmevents/vmevents/internal/pace"
	"github.com/vmevents/vmevents/test/framework/poll"
)

// waiters is how many writes wait at g, in both lanes.
func (g *WriteGate) waiters() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, w := range g.waiting {
		n += len(w)
	}
	return n
}

// A place that frees up goes to the oldest write of the highest lane
// waiting; a write that gives up waiting takes no place.
func TestWriteGateLetsUrgentWritesInFirst(t *testing.T) {
	g := NewWriteGate(1, 1)
	ctx := context.Background()
	if err := g.Enter(ctx, LaneCounters); err != nil { // the one place, taken
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	enter := func(name string, lane Lane) {
		n := g.waiters()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Enter(ctx, lane); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			g.Leave(lane)
		}()
		poll.Until(t, name+" waiting", func() bool { return g.waiters() == n+1 })
	}
	gaveUp, cancel := context.WithCancel(ctx)
	quitter := make(chan error)
	go func() { quitter <- g.Enter(gaveUp, LaneUrgent) }()
	poll.Until(t, "the quitter waiting", func() bool { return g.waiters() == 1 })

	enter("counters-1", LaneCounters)
	enter("event-1", LaneEvents)
	enter("urgent-1", LaneUrgent)
	enter("counters-2", LaneCounters)
	enter("urgent-2", LaneUrgent)
	enter("event-2", LaneEvents)
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Fatalf("a write whose context ended got %v, want context.Canceled", err)
	}
	g.Leave(LaneCounters)
	wg.Wait()
	want := []string{"urgent-1", "urgent-2", "event-1", "event-2", "counters-1", "counters-2"}
	for i := range want {
		if len(order) != len(want) || order[i] != want[i] {
			t.Fatalf("writes went in as %v, want %v", order, want)
		}
	}
	// Every place is back: as many writes as the limit get in at once.
	if err := g.Enter(ctx, LaneEvents); err != nil || g.inflight != 1 {
		t.Fatalf("after everyone left: Enter %v, %d in flight, want nil and 1", err, g.inflight)
	}
}

// Counter writes hold at most their share of the places: past it they wait
// even with places free, and other lanes' writes go in at once.
func TestWriteGateCapsTheCounters(t *testing.T) {
	g := NewWriteGate(3, 1)
	ctx := context.Background()
	if err := g.Enter(ctx, LaneCounters); err != nil {
		t.Fatal(err)
	}
	second := make(chan error)
	go func() { second <- g.Enter(ctx, LaneCounters) }()
	poll.Until(t, "the second counter write waiting", func() bool { return g.waiters() == 1 })
	for _, lane := range []Lane{LaneEvents, LaneUrgent} {
		if err := g.Enter(ctx, lane); err != nil { // would block if capped
			t.Fatal(err)
		}
	}
	g.Leave(LaneCounters)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if g.inflight != 3 || g.in[LaneCounters] != 1 {
		t.Errorf("%d in flight, %d counters, want 3 and 1", g.inflight, g.in[LaneCounters])
	}
}

// A gate whose routine places are taken lets urgent writes through and
// holds routine ones until a quick answer or a leaving write makes room.
func TestWriteGateHoldsRoutineWritesWhileTheApiserverIsSlow(t *testing.T) {
	g := NewWriteGate(8, 4)
	slowApiserver(g)
	g.Observe(pace.Target / 10) // quick: 2.5 places, no third yet
	ctx := context.Background()
	for range routineMin {
		if err := g.Enter(ctx, LaneEvents); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Enter(ctx, LaneUrgent); err != nil { // not held back
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { held <- g.Enter(ctx, LaneCounters) }()
	poll.Until(t, "the counter write to wait", func() bool { return g.waiters() == 1 })
	g.Observe(pace.Target / 10) // 2.9
	if g.waiters() != 1 {
		t.Fatal("the counter write went in flight before a place was added")
	}
	g.Observe(pace.Target / 10) // 3.24: a third place
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// slowApiserver leaves g's routine lanes the places a slow apiserver
// leaves them: routineMin.
func slowApiserver(g *WriteGate) {
	t0 := time.Now()
	for i := 0; g.routine.Size() > routineMin; i++ {
		g.routine.Observe(2*pace.Target, t0.Add(time.Duration(i)*time.Second))
	}
}
