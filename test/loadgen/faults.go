package main

import (
	"encoding/json"
	"fmt"
)

// pausingFault is a fault whose QEMU action stops the VM: the event, then
// STOP, with query-status answering the run state QEMU enters.
type pausingFault struct {
	event    string
	data     json.RawMessage
	runState string
}

// pausingFaults are the faults the bench times to their conditions, by the
// name the `fault` command takes: a guest panic with -action panic=pause, a
// watchdog with -action watchdog=pause, a disk error with werror=stop.
var pausingFaults = map[string]pausingFault{
	"panic":    {"GUEST_PANICKED", json.RawMessage(`{"action":"pause"}`), "guest-panicked"},
	"watchdog": {"WATCHDOG", json.RawMessage(`{"action":"pause"}`), "watchdog"},
	"ioerror":  {qmpBlockIOError, blockIOErrorAction("stop"), "io-error"},
}

// fault makes the socket's VM hit a pausing fault, as QEMU does: the fault
// event, the run state, STOP. The fault is reported as an F line, STOP as an
// E line.
func (s *session) fault(kind string) error {
	f, ok := pausingFaults[kind]
	if !ok {
		return fmt.Errorf("unknown fault %q (panic, watchdog, ioerror)", kind)
	}
	s.mu.Lock()
	s.runState = f.runState
	s.mu.Unlock()
	s.emitKind(f.event, f.data, "F")
	s.emit("STOP", nil, true)
	return nil
}

// clear ends a fault the way an operator would: a system reset (a panicked
// guest's kernel is dead) and `cont`.
func (s *session) clear() {
	s.mu.Lock()
	s.runState = ""
	s.mu.Unlock()
	s.emit("RESET", json.RawMessage(`{"guest":false,"reason":"host-qmp-system-reset"}`), true)
	s.emit("RESUME", nil, true)
}
