package qmp

// Stats are counters of one connection. All counts start at zero when the
// connection opens.
type Stats struct {
	// BytesRead is the number of bytes consumed from the socket.
	BytesRead uint64
	// MessagesRead counts complete messages of any kind.
	MessagesRead uint64
	// EventsRead counts events decoded from the socket, shed or not.
	EventsRead uint64
	// EventsDropped counts events shed because the queue was full; each
	// is accounted in exactly one Gap.
	EventsDropped uint64
	// Gaps counts gap markers opened.
	Gaps uint64
	// EventsQueued is the number of events (and gap markers) waiting for
	// the consumer right now.
	EventsQueued int
	// RepliesUnmatched counts replies whose id matched no command; they
	// are dropped.
	RepliesUnmatched uint64
	// RepliesLate counts replies that arrived after their caller gave up
	// (its context ended); they are dropped.
	RepliesLate uint64
	// MessagesUnknown counts well-formed messages that are neither event,
	// reply nor greeting; they are dropped.
	MessagesUnknown uint64
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	dropped, gaps, queued := c.q.stats()
	return Stats{
		BytesRead:        c.nBytes.Load(),
		MessagesRead:     c.nMessages.Load(),
		EventsRead:       c.nEvents.Load(),
		EventsDropped:    dropped,
		Gaps:             gaps,
		EventsQueued:     queued,
		RepliesUnmatched: c.nUnmatched.Load(),
		RepliesLate:      c.nLate.Load(),
		MessagesUnknown:  c.nUnknown.Load(),
	}
}
