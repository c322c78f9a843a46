package qmpagent

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/vmevents/vmevents/test/framework/poll"
)

// waiters is how many writes wait at g, in both lanes.
func (g *WriteGate) waiters() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting[routineLane]) + len(g.waiting[urgentLane])
}

// A place that frees up goes to the oldest urgent write, then to the
// oldest routine one; a write that gives up waiting takes no place.
func TestWriteGateLetsUrgentWritesInFirst(t *testing.T) {
	g := NewWriteGate(1)
	ctx := context.Background()
	if err := g.Enter(ctx, false); err != nil { // the one place, taken
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	enter := func(name string, urgent bool) {
		n := g.waiters()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Enter(ctx, urgent); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			g.Leave()
		}()
		poll.Until(t, name+" waiting", func() bool { return g.waiters() == n+1 })
	}
	gaveUp, cancel := context.WithCancel(ctx)
	quitter := make(chan error)
	go func() { quitter <- g.Enter(gaveUp, true) }()
	poll.Until(t, "the quitter waiting", func() bool { return g.waiters() == 1 })

	enter("routine-1", false)
	enter("urgent-1", true)
	enter("routine-2", false)
	enter("urgent-2", true)
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Fatalf("a write whose context ended got %v, want context.Canceled", err)
	}
	g.Leave()
	wg.Wait()
	want := []string{"urgent-1", "urgent-2", "routine-1", "routine-2"}
	for i := range want {
		if len(order) != len(want) || order[i] != want[i] {
			t.Fatalf("writes went in as %v, want %v", order, want)
		}
	}
	// Every place is back: as many writes as the limit get in at once.
	if err := g.Enter(ctx, false); err != nil || g.free != 0 {
		t.Fatalf("after everyone left: Enter %v, %d places free, want nil and 0", err, g.free)
	}
}
