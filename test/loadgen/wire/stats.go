// Package wire holds what the load generator (test/loadgen) prints for its
// drivers (test/bench) to read: one type, shared by both ends of the pipe.
package wire

// Stats are the generator's counters since it started, printed as the JSON
// of an "S {json}" line.
type Stats struct {
	// Sockets is the number of fake QEMUs; Connected how many have a
	// client past the capabilities negotiation now.
	Sockets, Connected int
	// Handshakes counts capabilities negotiations, all sockets together.
	Handshakes int64
	// Written counts events written to clients, by event name.
	Written map[string]int64
	// NoMonitor counts events emitted while no client was connected
	// (QEMU drops those); Unwritten events queued for a client that went
	// away before they could be written.
	NoMonitor, Unwritten int64
	// StormWritten counts, per socket that stormed, the storm events
	// written to its clients.
	StormWritten map[int]int64
}
