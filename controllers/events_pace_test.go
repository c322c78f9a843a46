package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/vmevents/vmevents/internal/pace"
	"github.com/vmevents/vmevents/test/framework/poll"
)

// The pacer holds a worker while its places are taken, lets it go when a
// place frees, and lets every waiting worker go, without a place, once its
// context ends.
func TestEventPacer(t *testing.T) {
	p := newEventPacer(4)
	for i := 0; p.window.Places() > 1; i++ { // as a slow API server leaves it
		p.window.Observe(2*pace.Target, time.Unix(int64(1000+i), 0))
	}
	if !p.enter() {
		t.Fatal("the first create was refused its place")
	}
	entered := make(chan bool, 2)
	go func() { entered <- p.enter() }()
	poll.Until(t, "the second create to wait", func() bool { return waiters(p) == 1 })
	p.leave(2 * pace.Target)
	if !<-entered {
		t.Fatal("the second create was refused the freed place")
	}

	go func() { entered <- p.enter() }()
	poll.Until(t, "the third create to wait", func() bool { return waiters(p) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.stopWhen(ctx)
	if <-entered {
		t.Fatal("a create took a place after the writer stopped")
	}
}

// waiters is how many workers wait for a place.
func waiters(p *eventPacer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}
