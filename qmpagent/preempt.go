package qmpagent

import (
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

// callBackLocked tells the workers waiting at the gate with a routine value
// to make way; c.mu is held.
func (c *Coalescer[K, V]) callBackLocked() {
	if c.gate == nil {
		return
	}
	close(c.urgentPut)
	c.urgentPut = make(chan struct{})
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
