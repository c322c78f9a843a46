package qmpagent

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// Coalescer writes the latest value per key with at most one write in flight
// per key and, for each key, at most burstWrites writes in any window of
// burstWrites×MinInterval: on average one write per MinInterval, yet a
// second change soon after a quiet spell is written at once. Values put
// while a write is in flight or waiting replace each other: only the newest is
// written. A failed write is retried with exponential backoff, with whatever
// value is newest by then, until it succeeds or the key is forgotten.
//
// Writes go in lanes (Lane): a value put with PutUrgent (a fact a condition
// depends on, a fault's Event) is written before every routine value that
// is due, whatever the order they were put in; with a WriteGate, before
// the routine writes of the agent's other writers too. When the apiserver answers
// fewer writes than are asked of it, the routine ones wait, coalescing,
// and lose nothing; the urgent ones wait at most for the writes already
// in flight.
type Coalescer[K comparable, V any] struct {
	write       func(ctx context.Context, key K, v V) error
	minInterval time.Duration
	queue       priorityqueue.PriorityQueue[K]

	mu      sync.Mutex
	pending map[K]V
	// urgent marks the keys whose pending value was put with PutUrgent.
	urgent map[K]bool
	// inflight marks the keys being written; forgotten those of them that
	// were forgotten meanwhile, whose write must not be retried or kept.
	inflight, forgotten map[K]bool
	// gate, when set, is shared with the agent's other writers; routine is
	// the lane of values not put with PutUrgent (UseGate).
	gate    *WriteGate
	routine Lane
	// urgentPut is closed, and replaced, when an urgent value is put: it
	// calls back the workers waiting at the gate with a routine value
	// (preempt.go).
	urgentPut chan struct{}
	// lastWrites holds each key's last burstWrites write times, oldest first.
	lastWrites map[K][burstWrites]time.Time
	stats      CoalescerStats

	// spool, when set, keeps the values until written (coalescer_spool.go).
	spool *Spool[K, V]
	// onSpoolError is told what the spool could not keep.
	onSpoolError func(error)
}

// CoalescerStats counts what a Coalescer did.
type CoalescerStats struct {
	Puts, Writes, Failures uint64
}

// NewCoalescer returns a Coalescer calling write; Run starts its workers.
func NewCoalescer[K comparable, V any](name string, minInterval time.Duration, write func(ctx context.Context, key K, v V) error) *Coalescer[K, V] {
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[K](100*time.Millisecond, 30*time.Second)
	return &Coalescer[K, V]{
		write:       write,
		minInterval: minInterval,
		queue:       priorityqueue.New(name, func(o *priorityqueue.Opts[K]) { o.RateLimiter = rl }),
		pending:     map[K]V{},
		urgent:      map[K]bool{},
		lastWrites:  map[K][burstWrites]time.Time{},
		inflight:    map[K]bool{},
		forgotten:   map[K]bool{},
		urgentPut:   make(chan struct{}),
	}
}

// UseGate makes the Coalescer's writes take their place in flight at g:
// those put with PutUrgent in LaneUrgent, the others in routine. It must
// be called before Run.
func (c *Coalescer[K, V]) UseGate(g *WriteGate, routine Lane) { c.gate, c.routine = g, routine }

// laneOf is the lane of a value put urgent or not.
func (c *Coalescer[K, V]) laneOf(urgent bool) Lane {
	if urgent {
		return LaneUrgent
	}
	return c.routine
}

// gatedWrite is one write, through the gate if there is one. preempt ends
// its wait at the gate (ErrCalledBack); nil for an urgent value, which
// nothing calls back.
func (c *Coalescer[K, V]) gatedWrite(ctx context.Context, key K, v V, urgent bool, preempt <-chan struct{}) error {
	if c.gate == nil {
		return c.write(ctx, key, v)
	}
	lane := c.laneOf(urgent)
	if err := c.gate.EnterUnless(ctx, lane, preempt); err != nil {
		return err // stopping or preempted: the value goes back to pending
	}
	defer c.gate.Leave(lane)
	start := time.Now()
	err := c.write(ctx, key, v)
	if ctx.Err() == nil {
		c.gate.Observe(time.Since(start))
	}
	return err
}

// burstWrites is how many writes of a key may follow each other at once. Two
// keep an occasional repeat (a second disk error a moment after the first)
// as fast as the first, and cost a storming key no more than one write per
// MinInterval on average.
const burstWrites = 2

// waitLocked is how long key's next write must wait; c.mu is held.
func (c *Coalescer[K, V]) waitLocked(key K) time.Duration {
	oldest := c.lastWrites[key][0]
	if oldest.IsZero() {
		return 0
	}
	return burstWrites*c.minInterval - time.Since(oldest)
}

// recordWriteLocked remembers a write of key at t; c.mu is held.
func (c *Coalescer[K, V]) recordWriteLocked(key K, t time.Time) {
	w := c.lastWrites[key]
	copy(w[:], w[1:])
	w[burstWrites-1] = t
	c.lastWrites[key] = w
}

// addLocked queues key, due after wait, in the lane of its pending value;
// c.mu is held. The queue keeps the earliest due time and the highest
// priority a key was asked for, so this never delays or demotes a write
// already queued.
func (c *Coalescer[K, V]) addLocked(key K, opts priorityqueue.AddOpts) {
	opts.Priority = ptr.To(int(c.laneOf(c.urgent[key]))) // higher is handed out first
	c.queue.AddWithOpts(opts, key)
}

// Put records v as the newest value for key and schedules its write in the
// routine lane.
func (c *Coalescer[K, V]) Put(key K, v V) { c.put(key, v, false, 0) }

// PutUrgent is Put in the urgent lane: the write goes before every routine
// one. The value stays urgent until it is written, whatever routine values
// replace it meanwhile (they carry its news).
func (c *Coalescer[K, V]) PutUrgent(key K, v V) { c.put(key, v, true, 0) }

// PutLater records v as the newest value for key like Put, but lets its
// write wait up to delay: a value that can wait (a counter) rides along
// with the next Put of the key, or is written after delay. A Put before
// then is not held back.
func (c *Coalescer[K, V]) PutLater(key K, v V, delay time.Duration) { c.put(key, v, false, delay) }

func (c *Coalescer[K, V]) put(key K, v V, urgent bool, delay time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[key] = v
	if urgent {
		c.urgent[key] = true
		c.callBackLocked()
	}
	c.stats.Puts++
	c.addLocked(key, priorityqueue.AddOpts{After: max(delay, c.waitLocked(key))})
}

// Forget drops key's unwritten value and history.
func (c *Coalescer[K, V]) Forget(key K) {
	c.mu.Lock()
	delete(c.pending, key)
	delete(c.urgent, key)
	delete(c.lastWrites, key)
	if c.inflight[key] {
		c.forgotten[key] = true
	}
	c.mu.Unlock()
	c.queue.Forget(key)
	c.drop(key)
}

// Pending reports whether key has a value not yet written.
func (c *Coalescer[K, V]) Pending(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pending[key]
	return ok
}

// Stats returns the counts so far.
func (c *Coalescer[K, V]) Stats() CoalescerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Run writes until ctx ends, with the given number of workers.
func (c *Coalescer[K, V]) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.flush(FlushTimeout, workers)
}

// FlushTimeout bounds the last attempt, at shutdown, to write what is still
// pending (delayed by MinInterval or by a retry).
const FlushTimeout = 5 * time.Second

// flush writes every pending value once, with the Coalescer's workers, for
// a graceful shutdown: an agent stopped during a storm still publishes its
// final counts. Past the timeout each write fails at once and its value
// goes to the spool, if there is one: nothing pending is dropped unsaved.
// Urgent values go first, as they would have.
func (c *Coalescer[K, V]) flush(timeout time.Duration, workers int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c.mu.Lock()
	pending, urgent := c.pending, c.urgent
	c.pending, c.urgent = map[K]V{}, map[K]bool{}
	c.mu.Unlock()
	order := make([]K, 0, len(pending))
	for key := range pending {
		order = append(order, key)
	}
	sort.SliceStable(order, func(i, j int) bool { return urgent[order[i]] && !urgent[order[j]] })
	keys := make(chan K)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				c.flushOne(ctx, key, pending[key])
			}
		}()
	}
	for _, key := range order {
		keys <- key
	}
	close(keys)
	wg.Wait()
}

func (c *Coalescer[K, V]) flushOne(ctx context.Context, key K, v V) {
	if err := c.write(ctx, key, v); err != nil {
		c.syncSpool()
		return
	}
	c.release(key, v)
	c.mu.Lock()
	c.stats.Writes++
	c.mu.Unlock()
}

// next handles one key; false once the queue shuts down. The workqueue never
// hands the same key to two workers at once: that is the "one write in
// flight" guarantee.
func (c *Coalescer[K, V]) next(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)

	c.mu.Lock()
	v, ok := c.pending[key]
	urgent := c.urgent[key]
	if wait := c.waitLocked(key); ok && wait > 0 {
		// Woken early by a Put racing an AddAfter: keep the value and come
		// back when the interval is over.
		c.addLocked(key, priorityqueue.AddOpts{After: wait})
		c.mu.Unlock()
		return true
	}
	delete(c.pending, key)
	delete(c.urgent, key)
	if ok {
		c.inflight[key] = true
	}
	var preempt chan struct{}
	if !urgent {
		preempt = c.urgentPut
	}
	c.mu.Unlock()
	if !ok {
		return true // already written by an earlier wake-up
	}

	err := c.gatedWrite(ctx, key, v, urgent, preempt)
	if errors.Is(err, ErrCalledBack) {
		c.putBack(key, v)
		return true
	}
	c.mu.Lock()
	delete(c.inflight, key)
	dropped := c.forgotten[key]
	delete(c.forgotten, key)
	c.mu.Unlock()
	if dropped {
		// Forgotten while written (a VM gone, or moved to another node):
		// no retry with the old value, nothing kept for it.
		if err == nil {
			c.release(key, v)
		}
		return true
	}
	if err != nil {
		c.syncSpool()
	} else {
		c.release(key, v)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.stats.Failures++
		if _, newer := c.pending[key]; !newer {
			c.pending[key] = v
		}
		if urgent {
			c.urgent[key] = true // its news is still unwritten
		}
		c.addLocked(key, priorityqueue.AddOpts{RateLimited: true})
		return true
	}
	c.stats.Writes++
	c.recordWriteLocked(key, time.Now())
	c.queue.Forget(key)
	if _, newer := c.pending[key]; newer {
		c.addLocked(key, priorityqueue.AddOpts{After: c.waitLocked(key)})
	}
	return true
}
