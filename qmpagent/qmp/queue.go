package qmp

import (
	"context"
	"errors"
	"math/bits"
	"sync"
)

// maxOutBuffer bounds the buffer of the channel Events returns. The rest
// of the queue's capacity lives in a ring that only grows when a consumer
// falls behind, so an idle connection costs little memory.
const maxOutBuffer = 128

// minRing is the ring size the queue starts with.
const minRing = 16

// maxPooledRing is the largest ring size kept in ringPools, 1<<maxRingShift.
const (
	maxRingShift  = 14
	maxPooledRing = 1 << maxRingShift
)

// ringPools holds rings of every power-of-two size from minRing to
// maxPooledRing, indexed by bits.Len of the size, each stored zeroed.
//
// A queue gives its ring back whenever its consumer has caught up and is
// about to wait, so an idle connection holds no ring at all, and a ring
// grown in a storm is not left pinned to a quiet connection. Pooling makes
// that cheap for a connection whose events come and go in bursts: the next
// burst takes the rings back instead of allocating them again.
var ringPools [maxRingShift + 2]sync.Pool

// getRing returns a zeroed ring of size slots.
func getRing(size int) []Event {
	if pooledRingSize(size) {
		if r, ok := ringPools[bits.Len(uint(size))].Get().(*[]Event); ok {
			return *r
		}
	}
	return make([]Event, size)
}

// putRing clears ring and keeps it for getRing, if it has a pooled size.
func putRing(ring []Event) {
	clear(ring) // drop references to events' data
	if pooledRingSize(len(ring)) {
		ringPools[bits.Len(uint(len(ring)))].Put(&ring)
	}
}

func pooledRingSize(size int) bool {
	return size >= minRing && size <= maxPooledRing && size&(size-1) == 0
}

// errDrained is what eventQueue.next reports when no item is left and
// none will come, unless the queue's ended function says otherwise.
var errDrained = errors.New("qmp: event queue drained")

// eventQueue carries events from the socket reader to the consumer without
// ever blocking the reader.
//
// Capacity is counted over everything accepted but not yet received by the
// consumer: the ring plus, once there is one, the buffered channel. When
// that reaches capacity the reader keeps reading, and each further event
// is accounted in a pending Gap instead of being queued. The gap sits,
// logically, after every queued event and before every later one: as soon
// as the consumer frees room, the gap is queued as one marker Event and
// ordinary queueing resumes. While a gap is pending every event goes into
// it, so the marker is always delivered before any event that arrived
// after it was opened.
//
// The consumer takes items in one of two ways. NextEvent (next) takes them
// from the ring itself: no goroutine and no channel buffer, which is what
// lets a node hold a thousand idle connections cheaply. Events
// (openChannel) adds a buffered channel, fed by a dispatcher goroutine
// (run): the reader hands an event straight to the channel when nothing is
// waiting in the ring, the dispatcher moves ring items to the channel when
// the channel was full, and closes the channel once the reader has
// finished and everything queued (a pending gap included) has been
// delivered. Once there is a channel, next receives from it too, so the
// two ways can be mixed and each item is delivered once.
//
// An item the dispatcher has just handed over may still count for an
// instant (it hands it over, then removes it from the ring), so a push
// that races with it can find the queue full one item early and shed. The
// bound is therefore never exceeded, and the accounting stays exact.
type eventQueue struct {
	mu       sync.Mutex
	out      chan Event // nil until Events is called
	ring     []Event    // grows up to capacity; holds items in order from head
	head, n  int
	capacity int
	gap      *Gap // pending gap, not yet queued
	gapTS    Timestamp
	waiting  bool          // the dispatcher waits for ring items
	wake     chan struct{} // wakes the dispatcher; capacity 1
	pullers  int           // next callers waiting for an item
	pullWake chan struct{} // wakes one of them; capacity 1
	closed   bool          // the reader has finished
	finished bool          // nothing more will be delivered; out, if any, is closed

	dropped uint64 // events accounted in gaps
	gaps    uint64 // gaps opened

	// ended, if set, returns what next reports once no item is left and
	// none will come; errDrained otherwise.
	ended func() error
}

func newEventQueue(capacity int) *eventQueue {
	return &eventQueue{
		capacity: capacity,
		pullWake: make(chan struct{}, 1),
	}
}

// openChannel gives the queue its channel, once, and returns it. Unless
// stopped, the caller must then run the dispatcher (run), which moves what
// is already queued to the channel. A stopped queue (the connection was
// closed) gets a closed channel.
func (q *eventQueue) openChannel(stopped bool) <-chan Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.out != nil {
		return q.out
	}
	q.out = make(chan Event, min(q.capacity-1, maxOutBuffer))
	q.wake = make(chan struct{}, 1)
	if stopped {
		q.finished = true
		close(q.out)
	}
	q.signalPullersLocked() // waiting next calls now receive from the channel
	return q.out
}

// push queues events, in order, or sheds them into the pending gap. It
// never blocks beyond the queue's mutex. It reports whether the queue is
// more than half full, so that the reader can let the consumer run (see
// Conn.flushEvents).
func (q *eventQueue) push(evs []Event) (backlog bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finished {
		return false // Close was called: nobody will read these events
	}
	for _, ev := range evs {
		q.pushLocked(ev)
	}
	return 2*(q.n+len(q.out)) > q.capacity || q.gap != nil
}

func (q *eventQueue) pushLocked(ev Event) {
	q.flushGapLocked()
	if q.gap == nil {
		if q.n == 0 && q.out != nil {
			select {
			case q.out <- ev:
				return
			default:
			}
		}
		if q.n+len(q.out) < q.capacity {
			q.appendLocked(ev)
			return
		}
		q.gap = newGap()
		q.gaps++
	}
	q.gap.add(ev)
	q.gapTS = ev.Timestamp
	q.dropped++
}

// flushGapLocked queues the pending gap as a marker once there is room.
func (q *eventQueue) flushGapLocked() {
	if q.gap == nil || q.n+len(q.out) >= q.capacity {
		return
	}
	q.appendLocked(Event{Timestamp: q.gapTS, Gap: q.gap})
	q.gap = nil
}

func (q *eventQueue) appendLocked(ev Event) {
	if q.n == len(q.ring) {
		q.growLocked()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = ev
	q.n++
	q.signalLocked()
}

// signalLocked wakes whoever waits for items: the dispatcher, or one of
// the next callers (who passes the wake-up on, see next).
func (q *eventQueue) signalLocked() {
	if q.waiting {
		q.waiting = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	q.signalPullersLocked()
}

func (q *eventQueue) signalPullersLocked() {
	if q.pullers > 0 {
		select {
		case q.pullWake <- struct{}{}:
		default:
		}
	}
}

// growLocked doubles the ring. The ring never needs more than capacity
// slots because admission is checked against capacity first.
func (q *eventQueue) growLocked() {
	size := 2 * len(q.ring)
	if size < minRing {
		size = minRing
	}
	if size > q.capacity {
		size = q.capacity
	}
	ring := getRing(size)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	if q.ring != nil {
		putRing(q.ring)
	}
	q.ring, q.head = ring, 0
}

func (q *eventQueue) popLocked() {
	q.ring[q.head] = Event{} // drop references to the event's data
	q.head = (q.head + 1) % len(q.ring)
	q.n--
}

// idleLocked runs when the consumer has caught up and is about to wait:
// the empty ring goes back to the pool.
func (q *eventQueue) idleLocked() {
	if q.n == 0 && q.ring != nil {
		putRing(q.ring)
		q.ring, q.head = nil, 0
	}
}

// close tells the queue the reader has finished: no more pushes.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.signalLocked()
	q.mu.Unlock()
}

// discard drops everything still queued, after Close: nothing more is
// delivered.
func (q *eventQueue) discard() {
	q.mu.Lock()
	q.finished = true
	if q.ring != nil {
		putRing(q.ring)
	}
	q.ring, q.head, q.n, q.gap = nil, 0, 0, nil
	q.signalPullersLocked()
	q.mu.Unlock()
}

// next returns the next item for a consumer that does not use the
// channel, waiting for one if none is queued. When none is left and none
// will come (the reader has finished and everything was delivered, or stop
// was closed) it returns the error of q.ended, and if ctx ends first,
// ctx's error.
//
// Any number of callers may wait at once. Each wake-up wakes one of them,
// and every caller that leaves passes a wake-up on to the next, so that
// items, the end of the stream or the arrival of the channel always reach
// a waiting caller.
//
// The work is split between take, which never waits, and wait, which
// holds nothing: an idle consumer then waits in small stack frames, and
// the runtime can shrink its goroutine's stack to a few kilobytes, which
// matters with a thousand connections.
func (q *eventQueue) next(ctx context.Context, stop <-chan struct{}) (Event, error) {
	for {
		ev, st := q.take(stop)
		switch st {
		case takeItem:
			return ev, nil
		case takeDrained:
			return Event{}, q.end()
		case takeChannel:
			return q.receive(ctx)
		}
		if err := q.wait(ctx, stop); err != nil {
			return Event{}, err
		}
	}
}

// takeState is what take found.
type takeState uint8

const (
	takeNone    takeState = iota // nothing queued: the caller must wait
	takeItem                     // an item was taken
	takeDrained                  // nothing is left and nothing will come
	takeChannel                  // Events was called: receive from the channel
)

// take takes the next item if there is one. When there is none it counts
// the caller as waiting, and the caller must call wait. It is not inlined
// into next, whose frame stays on the stack while the consumer waits.
//
//go:noinline
func (q *eventQueue) take(stop <-chan struct{}) (Event, takeState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.out != nil {
		q.signalPullersLocked() // other waiting callers move over too
		return Event{}, takeChannel
	}
	select {
	case <-stop:
		q.finished = true
	default:
	}
	if q.finished {
		q.signalPullersLocked()
		return Event{}, takeDrained
	}
	q.flushGapLocked()
	if q.n > 0 {
		ev := q.ring[q.head]
		q.popLocked()
		q.flushGapLocked()
		if q.n > 0 || q.closed {
			q.signalPullersLocked()
		}
		return ev, takeItem
	}
	if q.closed {
		// Nothing queued and no gap pending (flushGapLocked queues it
		// whenever the ring is not full): the stream is over.
		q.signalPullersLocked()
		return Event{}, takeDrained
	}
	q.idleLocked()
	q.pullers++
	return Event{}, takeNone
}

// wait waits, after take found nothing, until there may be something to
// take, or ctx ends. It is not inlined into next, to keep next's frame
// small (see next).
//
//go:noinline
func (q *eventQueue) wait(ctx context.Context, stop <-chan struct{}) error {
	var err error
	select {
	case <-q.pullWake:
	case <-stop:
	case <-ctx.Done():
		err = ctx.Err()
	}
	q.mu.Lock()
	q.pullers--
	if err != nil {
		// Pass on a wake-up this caller may have been sent.
		q.signalPullersLocked()
	}
	q.mu.Unlock()
	return err
}

// end is what next reports at the end of the stream.
func (q *eventQueue) end() error {
	if q.ended != nil {
		return q.ended()
	}
	return errDrained
}

// receive receives the next item from the channel, once Events was called.
func (q *eventQueue) receive(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-q.out:
		if !ok {
			return Event{}, q.end()
		}
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// run is the dispatcher, started once the channel is open. It returns
// after closing the channel, either when everything has been delivered
// after close, or at once when stop is closed (undelivered events are then
// discarded).
func (q *eventQueue) run(stop <-chan struct{}) {
	for {
		q.mu.Lock()
		q.flushGapLocked()
	move:
		for q.n > 0 {
			select {
			case q.out <- q.ring[q.head]:
				q.popLocked()
				q.flushGapLocked()
			default:
				break move
			}
		}
		if q.n == 0 {
			if q.closed && q.gap == nil {
				q.finishLocked()
				q.mu.Unlock()
				return
			}
			q.idleLocked()
			q.waiting = true
			q.mu.Unlock()
			select {
			case <-q.wake:
			case <-stop:
				q.finish()
				return
			}
			continue
		}
		// The channel is full. Wait for the consumer with the head item,
		// which stays counted in the ring until it has been handed over.
		ev := q.ring[q.head]
		q.mu.Unlock()
		select {
		case q.out <- ev:
		case <-stop:
			q.finish()
			return
		}
		q.mu.Lock()
		q.popLocked()
		q.flushGapLocked()
		q.mu.Unlock()
	}
}

func (q *eventQueue) finish() {
	q.mu.Lock()
	q.finishLocked()
	q.mu.Unlock()
}

// finishLocked closes the channel. Only the dispatcher calls it: it is
// the only sender that may be blocked outside the lock.
func (q *eventQueue) finishLocked() {
	if !q.finished {
		q.finished = true
		close(q.out)
	}
	q.signalPullersLocked()
}

// stats returns the queue's counters and current length.
func (q *eventQueue) stats() (dropped, gaps uint64, queued int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped, q.gaps, q.n + len(q.out)
}
