package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/vmevents/vmevents/internal/pace"
)

// eventPacer lets the event writer's workers create only as many Events at
// once as keep the API server answering quickly (a pace.Window over their
// answer times), down to one. Transition Events can wait; the conditions
// cannot. In the bench's scenario 2 (docs/benchmarks.md) the first seconds
// of a load flip conditions on hundreds of VMs: their Events were a fifth
// of the API server's writes, and the condition writes of the faults that
// followed queued behind them at the API server, past a second. Waiting,
// the Events lose nothing: they stay pending in the writer, in order.
type eventPacer struct {
	mu       sync.Mutex
	cond     *sync.Cond
	window   *pace.Window
	inflight int
	// waiting counts the workers waiting for a place.
	waiting int
	stopped bool
}

func newEventPacer(limit int) *eventPacer {
	p := &eventPacer{window: pace.NewWindow(limit, 1)}
	p.cond = sync.NewCond(&p.mu)
	transitionEventPlaces.Set(p.window.Size())
	return p
}

// enter waits for a place and takes it; false once stopped.
func (p *eventPacer) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.stopped && p.inflight >= p.window.Places() {
		p.waiting++
		p.cond.Wait()
		p.waiting--
	}
	if p.stopped {
		return false
	}
	p.inflight++
	return true
}

// leave gives back a place after a write answered in took.
func (p *eventPacer) leave(took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	p.observeLocked(took)
}

// observe takes the answer time of another write to the API server (a
// condition apply): what the Events must not slow down tells best when the
// API server is too busy for them.
func (p *eventPacer) observe(took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observeLocked(took)
}

// observeLocked moves the window by an answer time; p.mu is held.
func (p *eventPacer) observeLocked(took time.Duration) {
	p.window.Observe(took, time.Now())
	transitionEventPlaces.Set(p.window.Size())
	p.cond.Broadcast()
}

// stopWhen wakes every waiting worker, for good, once ctx ends.
func (p *eventPacer) stopWhen(ctx context.Context) {
	<-ctx.Done()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cond.Broadcast()
}
