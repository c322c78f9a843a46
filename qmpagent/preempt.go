package qmpagent

import (
	"context"
	"errors"

	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// Preemption: an urgent value never waits for a worker.
//
// A Coalescer's workers take keys from its queue, urgent ones first, and
// then wait at the WriteGate for a place in their lane. While the
// apiserver is slow the routine lanes have few places, so most workers
// wait there holding a routine value; an urgent value put then (a panic's
// status, a fault's Event) found no worker free to take it, and waited for
// routine writes to go first: the very inversion the lanes exist to
// prevent. So every urgent put calls back the workers waiting with a
// routine value: each puts its value back, unwritten and uncounted, and
// takes the next key, which is the urgent one.

// errPreempted is a routine write called back from the gate before it went
// in flight.
var errPreempted = errors.New("preempted by an urgent write")

// callBackLocked tells the workers waiting at the gate with a routine value
// to make way; c.mu is held.
func (c *Coalescer[K, V]) callBackLocked() {
	if c.gate == nil {
		return
	}
	close(c.urgentPut)
	c.urgentPut = make(chan struct{})
}

// enter waits at the gate for a place in lane; for a routine lane, until
// preempt is closed too (errPreempted).
func (c *Coalescer[K, V]) enter(ctx context.Context, lane Lane, preempt <-chan struct{}) error {
	if lane == LaneUrgent || preempt == nil {
		return c.gate.Enter(ctx, lane)
	}
	waitCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-preempt:
			cancel(errPreempted)
		case <-waitCtx.Done():
		}
	}()
	err := c.gate.Enter(waitCtx, lane)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(waitCtx), errPreempted) {
		return errPreempted
	}
	return err
}

// putBack returns a preempted value to pending, unless a newer one came
// meanwhile, and queues its key again at once (behind the urgent keys now
// queued, which the queue hands out first).
func (c *Coalescer[K, V]) putBack(key K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, key)
	if c.forgotten[key] {
		delete(c.forgotten, key)
		return
	}
	if _, newer := c.pending[key]; !newer {
		c.pending[key] = v
	}
	c.addLocked(key, priorityqueue.AddOpts{})
}
