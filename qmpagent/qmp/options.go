package qmp

import "time"

// Defaults for Options fields left at zero.
const (
	// DefaultMaxMessageBytes is the per-message size cap. It matches
	// libvirt's and qemu.qmp's limit and is fifty times the largest reply
	// QEMU sends in practice (query-qmp-schema, ~200 KB).
	DefaultMaxMessageBytes = 10 << 20
	// DefaultQueueSize is the event queue capacity.
	DefaultQueueSize = 1024
	// DefaultGreetingTimeout bounds the wait for QEMU's greeting and for
	// the reply to qmp_capabilities. QEMU greets immediately unless the
	// monitor is busy with another client.
	DefaultGreetingTimeout = 5 * time.Second
)

// Options tunes a connection. The zero value is ready to use.
type Options struct {
	// MaxMessageBytes caps the size of one message from QEMU. A larger
	// message ends the connection with ErrMessageTooLarge. Zero means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// QueueSize is how many events may wait for the consumer before the
	// client starts shedding them into a Gap. Zero means
	// DefaultQueueSize.
	QueueSize int
	// GreetingTimeout bounds the wait for the greeting (after which Dial
	// fails with ErrMonitorBusy) and then for the capabilities
	// negotiation. Zero means DefaultGreetingTimeout.
	GreetingTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.GreetingTimeout <= 0 {
		o.GreetingTimeout = DefaultGreetingTimeout
	}
	return o
}
