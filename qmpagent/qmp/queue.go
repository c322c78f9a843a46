package qmp

import "sync"

// maxOutBuffer bounds the buffer of the channel Events returns. The rest
// of the queue's capacity lives in a ring that only grows when a consumer
// falls behind, so an idle connection costs little memory.
const maxOutBuffer = 128

// eventQueue carries events from the socket reader to the consumer without
// ever blocking the reader.
//
// Capacity is counted over everything accepted but not yet received by the
// consumer: the ring plus the buffered channel. When that reaches capacity
// the reader keeps reading, and each further event is accounted in a
// pending Gap instead of being queued. The gap sits, logically, after every
// queued event and before every later one: as soon as the consumer frees
// room, the gap is queued as one marker Event and ordinary queueing
// resumes. While a gap is pending every event goes into it, so the marker
// is always delivered before any event that arrived after it was opened.
//
// An item the consumer has just taken may still count for an instant (the
// dispatcher hands it over, then removes it from the ring), so a push that
// races with it can find the queue full one item early and shed. The
// bound is therefore never exceeded, and the accounting stays exact.
//
// The reader hands an event straight to the channel when nothing is
// waiting in the ring; a dispatcher goroutine moves ring items to the
// channel when the channel was full, and closes the channel once the
// reader has finished and everything queued (a pending gap included) has
// been delivered.
type eventQueue struct {
	mu       sync.Mutex
	out      chan Event
	ring     []Event // grows up to capacity; holds items in order from head
	head, n  int
	capacity int
	gap      *Gap // pending gap, not yet queued
	gapTS    Timestamp
	waiting  bool          // the dispatcher waits for ring items
	wake     chan struct{} // wakes the dispatcher; capacity 1
	closed   bool          // the reader has finished
	finished bool          // out is closed

	dropped uint64 // events accounted in gaps
	gaps    uint64 // gaps opened
}

func newEventQueue(capacity int) *eventQueue {
	b := capacity - 1
	if b > maxOutBuffer {
		b = maxOutBuffer
	}
	return &eventQueue{
		out:      make(chan Event, b),
		capacity: capacity,
		wake:     make(chan struct{}, 1),
	}
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
		if q.n == 0 {
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
	if q.waiting {
		q.waiting = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// growLocked doubles the ring. The ring never needs more than capacity
// slots because admission is checked against capacity first.
func (q *eventQueue) growLocked() {
	size := 2 * len(q.ring)
	if size < 16 {
		size = 16
	}
	if size > q.capacity {
		size = q.capacity
	}
	ring := make([]Event, size)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

func (q *eventQueue) popLocked() {
	q.ring[q.head] = Event{} // drop references to the event's data
	q.head = (q.head + 1) % len(q.ring)
	q.n--
}

// close tells the queue the reader has finished: no more pushes.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	if q.waiting {
		q.waiting = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	q.mu.Unlock()
}

// run is the dispatcher. It returns after closing the channel, either when
// everything has been delivered after close, or at once when stop is
// closed (undelivered events are then discarded).
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

func (q *eventQueue) finishLocked() {
	if !q.finished {
		q.finished = true
		close(q.out)
	}
}

// stats returns the queue's counters and current length.
func (q *eventQueue) stats() (dropped, gaps uint64, queued int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped, q.gaps, q.n + len(q.out)
}
