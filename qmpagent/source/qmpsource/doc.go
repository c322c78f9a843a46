// Package qmpsource is the node agent's QMP event source: for every
// VirtualMachine of the node that names a QMP socket (spec.qmp.socketPath)
// it keeps a Session on QEMU's monitor (connect, re-sync, stream events,
// reconnect with capped backoff and jitter) and tells what it learns
// through the agent's source.Publisher. QEMU's events are applied to the
// model by model.ApplyQMP, the mapping libvirtd's relay of the same monitor
// uses too.
//
// Sockets are trusted only under the node's socket roots (Resolve).
// Discovery (opt-in) creates a VirtualMachine for each socket matching a
// glob that no VirtualMachine names.
package qmpsource
