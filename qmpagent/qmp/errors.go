package qmp

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for one of these
// conditions wraps the sentinel, so callers test with errors.Is.
var (
	// ErrMonitorBusy means the socket accepted the connection but no
	// greeting arrived within Options.GreetingTimeout. QEMU serves one
	// client per QMP socket and does not greet a second client until the
	// first one leaves, so this almost always means another client (a
	// second agent, a debugging session, libvirt) holds the monitor.
	ErrMonitorBusy = errors.New("qmp: no greeting: monitor busy (QEMU serves one client per QMP socket) or not a QMP socket")

	// ErrClosed is the reason a connection ended when Close was called
	// locally.
	ErrClosed = errors.New("qmp: connection closed")

	// ErrMessageTooLarge means the peer sent a message larger than
	// Options.MaxMessageBytes. The connection is ended rather than
	// buffering without bound or stalling.
	ErrMessageTooLarge = errors.New("qmp: message too large")

	// ErrProtocol means the peer sent bytes that are not a QMP stream:
	// invalid JSON, a non-object message or a malformed greeting.
	ErrProtocol = errors.New("qmp: protocol error")

	// ErrUnknownEvent is returned by Event.Decode for an event name this
	// package has no typed struct for. The event's raw Data is still
	// available.
	ErrUnknownEvent = errors.New("qmp: no typed decoding for this event")
)

// ErrorClass is the "class" of an error reply from QEMU. The classes are
// also errors themselves so that callers can write
//
//	if errors.Is(err, qmp.ErrCommandNotFound) { ... }
//
// against the *Error that Execute returns.
type ErrorClass string

// Error classes defined by QEMU's qapi/error.json.
const (
	// ErrGenericError is the class of most failures; the description
	// says what went wrong.
	ErrGenericError ErrorClass = "GenericError"
	// ErrCommandNotFound is returned for a command this QEMU does not
	// have, for example query-spice on a build without SPICE.
	ErrCommandNotFound ErrorClass = "CommandNotFound"
	// ErrDeviceNotActive is returned when the device a command needs is
	// not active, for example query-balloon without a balloon device.
	ErrDeviceNotActive ErrorClass = "DeviceNotActive"
	// ErrDeviceNotFound is returned when a named device does not exist.
	ErrDeviceNotFound ErrorClass = "DeviceNotFound"
	// ErrKVMMissingCap is returned when KVM lacks a needed capability.
	ErrKVMMissingCap ErrorClass = "KVMMissingCap"
)

// Error implements the error interface so a class can be an errors.Is
// target.
func (c ErrorClass) Error() string { return "qmp: " + string(c) }

// Error is an error reply from QEMU: {"error": {"class": ..., "desc": ...}}.
type Error struct {
	// Command is the command that failed.
	Command string
	// Class is QEMU's error class.
	Class ErrorClass
	// Desc is QEMU's human-readable description. It is not stable and
	// must not be parsed.
	Desc string
}

// Error formats the reply as "qmp: COMMAND: CLASS: DESC".
func (e *Error) Error() string {
	return fmt.Sprintf("qmp: %s: %s: %s", e.Command, e.Class, e.Desc)
}

// Is reports whether target is this error's class, so that
// errors.Is(err, ErrCommandNotFound) works.
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorClass)
	return ok && c == e.Class
}
