package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// Conn is a connection to one QMP monitor.
//
// A Conn runs one goroutine, the reader, that owns the socket's read side
// for the connection's whole life, and a second one, a dispatcher that
// feeds the Events channel, once Events is first called. Both end when the
// connection ends; Close waits for them. A consumer that receives events
// with NextEvent needs no dispatcher. All methods are safe for concurrent
// use.
type Conn struct {
	nc    net.Conn
	opts  Options
	dec   *decoder
	q     *eventQueue
	names nameCache // touched by the reader only
	batch []Event   // events decoded but not yet queued; reader only

	wmu sync.Mutex // serialises writes so commands never interleave

	nextID    atomic.Uint64
	pmu       sync.Mutex
	pending   map[uint64]*call
	abandoned map[uint64]struct{} // ids whose caller gave up waiting
	ended     bool                // the reader has finished; no new calls

	greetCh  chan Greeting // the reader hands over the greeting; capacity 1
	greeted  bool          // touched by the reader only
	greeting Greeting

	evMu      sync.Mutex    // orders the start of the dispatcher with Close
	evOpen    bool          // Events has been called
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the reader has finished
	err       error         // why the connection ended; set before done is closed
	failMu    sync.Mutex
	failErr   error // a local failure (a broken write) that ended the connection
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	nMessages  atomic.Uint64
	nBytes     atomic.Uint64
	nEvents    atomic.Uint64
	nUnmatched atomic.Uint64
	nLate      atomic.Uint64
	nUnknown   atomic.Uint64
}

// call is a command waiting for its reply.
type call struct {
	command string
	ch      chan result // capacity 1, so the reader never blocks on it
}

// result is the outcome of a command.
type result struct {
	ret []byte // the raw "return" value, copied out of the read buffer
	err error  // an *Error from QEMU, or why the connection ended
}

// Dial connects to the QMP unix socket at socketPath, reads the greeting
// and negotiates capabilities. ctx bounds the whole setup. If the socket
// accepts the connection but never greets (QEMU serves one client per
// socket), Dial fails after Options.GreetingTimeout with an error wrapping
// ErrMonitorBusy.
func Dial(ctx context.Context, socketPath string, opts Options) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	c, err := NewConn(ctx, nc, opts)
	if err != nil {
		return nil, fmt.Errorf("qmp: %s: %w", socketPath, err)
	}
	return c, nil
}

// NewConn runs the QMP handshake over an established connection and
// returns a ready Conn. It takes ownership of nc: on failure nc is closed.
// Tests use it with one end of a net.Pipe or a socket of their own.
func NewConn(ctx context.Context, nc net.Conn, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	c := &Conn{
		nc:        nc,
		opts:      opts,
		dec:       newDecoder(nc, opts.MaxMessageBytes),
		q:         newEventQueue(opts.QueueSize),
		names:     make(nameCache),
		pending:   make(map[uint64]*call),
		abandoned: make(map[uint64]struct{}),
		greetCh:   make(chan Greeting, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.dec.beforeRead = c.flushEvents // queue what was read before waiting for more
	c.q.ended = c.endErr
	c.wg.Add(1)
	go c.readLoop()
	if err := c.handshake(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Greeting returns the greeting QEMU sent when the connection was opened.
func (c *Conn) Greeting() Greeting { return c.greeting }

// Events returns the channel of events, the same channel on every call.
//
// Events are queued from the moment the connection is opened, so none are
// missed between Dial and the first call. The channel never blocks the
// socket reader or command replies: when the consumer falls behind by
// Options.QueueSize events, later events are shed and accounted in a Gap
// marker, delivered in their place as soon as the consumer catches up
// (see Event.Gap). After the connection ends the channel delivers every
// queued event and a pending gap, then closes; after Close it closes
// without delivering what is still queued.
//
// The first call starts a goroutine that feeds the channel and gives the
// channel a buffer of up to 128 events; NextEvent delivers the same
// stream without either, which matters when a process holds many
// connections.
func (c *Conn) Events() <-chan Event {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	if c.evOpen {
		return c.q.openChannel(false) // already open: returns the channel
	}
	c.evOpen = true
	select {
	case <-c.stop:
		return c.q.openChannel(true)
	default:
	}
	out := c.q.openChannel(false)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.q.run(c.stop)
	}()
	return out
}

// NextEvent returns the next event, or gap marker, waiting for one if none
// is queued. It delivers the stream Events delivers, with the same
// guarantees (queued from the moment the connection opened, bounded by
// Options.QueueSize, shed events accounted in a Gap delivered in their
// place), without a goroutine or a channel buffer per connection.
//
// After the connection ends NextEvent returns every queued event and a
// pending gap, then the error Err reports: io.EOF when QEMU closed the
// socket, ErrClosed after Close (which discards what is still queued),
// and so on. If ctx ends while it waits, NextEvent returns ctx's error and
// the connection stays open.
//
// NextEvent may be called from several goroutines, and together with
// Events: each event is delivered once, to one of them, so a single
// consumer is the way to see events in order.
func (c *Conn) NextEvent(ctx context.Context) (Event, error) {
	return c.q.next(ctx, c.stop)
}

// endErr is what NextEvent returns at the end of the stream: why the
// connection ended. The reader has finished, or is about to after Close,
// and Err is known once done is closed.
func (c *Conn) endErr() error {
	<-c.done
	return c.err
}

// Done is closed when the connection has ended, for whatever reason.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended, or returns nil while it is open:
//
//   - io.EOF: QEMU closed the socket between messages (it exited, or
//     another party closed the monitor);
//   - an error wrapping io.ErrUnexpectedEOF: the socket closed in the
//     middle of a message;
//   - an error wrapping ErrProtocol: the peer sent something that is not
//     QMP (the error says what and where);
//   - an error wrapping ErrMessageTooLarge: a message exceeded
//     Options.MaxMessageBytes;
//   - ErrClosed: Close was called;
//   - any other error: the socket failed (read or write).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection and waits until every goroutine it started
// has returned. Commands in flight fail; events still queued are
// discarded and the Events channel is closed. Close is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.evMu.Lock() // Events starts no dispatcher after this
		close(c.stop)
		c.evMu.Unlock()
		c.closeErr = c.nc.Close()
		c.wg.Wait()
		c.q.discard()
		if errors.Is(c.closeErr, net.ErrClosed) {
			c.closeErr = nil
		}
	})
	return c.closeErr
}

// readLoop is the only reader of the socket. It decodes messages one by
// one, hands replies to waiting commands and events to the queue, and
// never blocks on either.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	var err error
	for err == nil {
		var msg []byte
		var members []member
		msg, members, err = c.dec.next()
		c.nBytes.Store(c.dec.bytes)
		if err == nil {
			err = c.handleMessage(msg, members)
		}
	}
	c.flushEvents()
	c.finish(err)
}

// handleMessage acts on one message from the reader.
//
// It is never inlined into readLoop, so that the frame the reader waits in
// stays small: an idle reader then uses little enough of its stack for the
// runtime to shrink it, which matters with a thousand connections.
//
//go:noinline
func (c *Conn) handleMessage(msg []byte, members []member) error {
	c.nMessages.Add(1)
	var err error
	m := classify(msg, members)
	switch m.kind {
	case kindEvent:
		c.batch = append(c.batch, buildEvent(msg, m, c.names))
	case kindReply:
		c.handleReply(msg, m)
	case kindGreeting:
		err = c.handleGreeting(msg, m)
	default:
		c.nUnknown.Add(1)
	}
	if len(c.batch) >= maxBatch {
		c.flushEvents()
	}
	return err
}

// maxBatch bounds how many events the reader collects before queueing
// them.
const maxBatch = 256

// flushEvents queues the events collected from the data read so far.
//
// The reader queues events in batches, before each read from the socket
// that may block, rather than one by one: waking a consumer that waits on
// another CPU costs far more than handing it an event, and a burst read in
// one go then costs one wake-up instead of hundreds. Latency is
// unaffected, since the batch is queued before the reader waits for more
// data.
func (c *Conn) flushEvents() {
	if len(c.batch) == 0 {
		return
	}
	c.nEvents.Add(uint64(len(c.batch)))
	backlog := c.q.push(c.batch)
	clear(c.batch)
	c.batch = c.batch[:0]
	if backlog {
		// The consumer is falling behind. Often it is not slow at all
		// but merely runnable, waiting for this goroutine's CPU. Yielding
		// lets it run; the reader still never waits for it.
		runtime.Gosched()
	}
}

func (c *Conn) handleReply(msg []byte, m message) {
	id, ok := uint64(0), false
	if m.id.present() {
		id, ok = parseID(msg[m.id.start:m.id.end])
	}
	c.pmu.Lock()
	cl := c.pending[id]
	if !ok || cl == nil {
		_, late := c.abandoned[id]
		if ok && late {
			delete(c.abandoned, id)
		}
		c.pmu.Unlock()
		if ok && late {
			c.nLate.Add(1)
		} else {
			// Not ours: an error about unparseable input QEMU could not
			// attribute, or a reply for another client's id scheme.
			c.nUnmatched.Add(1)
		}
		return
	}
	delete(c.pending, id)
	c.pmu.Unlock()

	var r result
	if m.err.present() {
		var body struct {
			Class string `json:"class"`
			Desc  string `json:"desc"`
		}
		if err := json.Unmarshal(msg[m.err.start:m.err.end], &body); err != nil {
			r.err = fmt.Errorf("%w: malformed error reply to %s: %v", ErrProtocol, cl.command, err)
		} else {
			r.err = &Error{Command: cl.command, Class: ErrorClass(body.Class), Desc: body.Desc}
		}
	} else {
		r.ret = append([]byte(nil), msg[m.ret.start:m.ret.end]...)
	}
	cl.ch <- r
}

// finish records why the connection ended, fails the commands still
// waiting and lets the dispatcher drain and close the events channel.
func (c *Conn) finish(err error) {
	select {
	case <-c.stop:
		err = ErrClosed
	default:
		c.failMu.Lock()
		if c.failErr != nil {
			err = c.failErr
		}
		c.failMu.Unlock()
	}
	c.err = err
	// Done first: whoever sees the events channel close can rely on Err.
	close(c.done)

	c.pmu.Lock()
	c.ended = true
	pending := c.pending
	c.pending = nil
	c.pmu.Unlock()
	for _, cl := range pending {
		cl.ch <- result{err: fmt.Errorf("qmp: %s: connection ended: %w", cl.command, err)}
	}
	c.q.close()
}

// fail ends the connection because of a local failure, recording it as
// the reason.
func (c *Conn) fail(err error) {
	c.failMu.Lock()
	if c.failErr == nil {
		c.failErr = err
	}
	c.failMu.Unlock()
	_ = c.nc.Close()
}
