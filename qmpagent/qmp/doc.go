// Package qmp is a client for the QEMU Machine Protocol (QMP), built to
// watch many virtual machines' events without losing count of them.
//
// It knows the protocol and nothing else: no Kubernetes, no retries, no
// policy. A caller dials a monitor socket, reads events and runs queries:
//
//	c, err := qmp.Dial(ctx, "/run/vm1/qmp.sock", qmp.Options{})
//	if err != nil { ... }
//	defer c.Close()
//	for ev := range c.Events() {
//		if ev.Gap != nil {
//			// events were shed; ev.Gap.Lost says how many of each name.
//			// Re-sync: st, err := c.QueryStatus(ctx)
//			continue
//		}
//		switch e, _ := ev.Decode(); e := e.(type) {
//		case qmp.ShutdownEvent:
//			log.Printf("shutdown, guest=%v reason=%s", e.Guest, e.Reason)
//		}
//	}
//	// c.Err() says why the connection ended.
//
// # Design
//
// One reader per connection. A single goroutine owns the socket's read
// side for the whole life of the connection, from before the greeting to
// the end, and reads it in order through one place. Nothing that arrives
// can fall between two readers: events sent before the greeting, during
// capability negotiation, or in the same read as the qmp_capabilities
// reply are delivered in order like all others.
//
// A streaming, validating decoder. QMP is a stream of JSON objects; QEMU
// ends each with "\r\n", but pretty=on monitors spread one object over
// many lines. The decoder therefore ignores line ends and instead runs a
// byte-level state machine (strings, escapes, numbers, literals, nesting)
// that finds the end of each top-level object and validates it in the same
// pass, recording where the top-level members lie. Events are then built
// from those spans without a second parse: only the event's "data" is
// copied, and it is kept as raw JSON. Every message is bounded by
// Options.MaxMessageBytes (10 MiB by default, like libvirt): a larger one
// ends the connection with ErrMessageTooLarge instead of stalling it or
// growing memory, while real replies such as query-qmp-schema (~200 KB on
// one line) pass.
//
// Commands are matched by id. Each command carries a fresh numeric id and
// waits, under its context, for the reply with that id; commands may run
// concurrently. Replies nobody waits for are counted (Stats) and dropped.
// Error replies become *Error, whose class is errors.Is-comparable with
// ErrCommandNotFound, ErrDeviceNotActive and the other classes.
//
// Events never block anything. The reader hands events to a bounded queue
// (Options.QueueSize, 1024 by default) and never waits for the consumer,
// so a slow consumer cannot delay command replies or stall the socket.
// The consumer receives them from the Events channel, or by calling
// NextEvent, which delivers the same stream. When the queue is full,
// further events are shed but accounted exactly, per event name, in a
// pending Gap together with the last shed event of each name. As soon as
// the consumer frees room, the gap is delivered in the stream as one Event
// with a non-nil Gap, before any later event. A consumer that keeps
// counters adds Gap.Lost to them and stays exact; a consumer that derives
// state from events must re-sync it after a gap (QueryStatus, QueryBlock,
// ...). When the connection ends, the stream delivers everything queued
// and a pending gap, then ends (the Events channel closes, NextEvent
// returns Err's error), and Err says why the connection ended: io.EOF for
// a clean close by QEMU, ErrProtocol for bytes that are not QMP,
// ErrMessageTooLarge, or ErrClosed after Close.
//
// Handshake with a deadline. Dial checks the greeting's shape and
// negotiates capabilities within Options.GreetingTimeout. QEMU serves one
// client per QMP socket and leaves a second one waiting without a
// greeting; Dial reports that case as ErrMonitorBusy rather than hanging.
//
// Typed events, raw underneath. Event.Decode returns a typed struct for
// every event QEMU's current QAPI schema defines that matters to a VM
// watcher (run state, watchdog, panic, block, jobs, VNC, SPICE, balloon,
// migration, devices, ...), with the schema's field names and enum values;
// unknown events and unknown fields stay available as raw JSON. Timestamps
// keep QEMU's seconds and microseconds, and -1/-1 (clock unknown) is
// reported by Timestamp.Known.
//
// Cheap when idle, for processes that watch a thousand monitors. The
// reader waits for the socket to become readable without holding a read
// buffer, and borrows one from a pool shared by all connections (4 KiB,
// or 32 KiB while data streams in) only while there are bytes to decode;
// the event queue holds no storage while empty and grows on demand up to
// its bound. A consumer that uses NextEvent rather than Events adds no
// goroutine and no channel buffer, so an idle connection costs its reader
// goroutine and a few kilobytes.
//
// Close ends every goroutine the connection started before it returns.
//
// Package qmptest provides a wire-exact fake QMP server for tests, and
// package qemutest starts real QEMU processes for integration tests.
package qmp
