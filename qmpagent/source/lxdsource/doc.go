// Package lxdsource is the node agent's LXD event source: it follows LXD's
// /1.0/events stream on the daemon's unix socket (lifecycle, operation and
// logging events of all projects; logging at warning and above is
// published, unless Config.IgnoreLogging) and publishes it through the
// agent's source.Publisher.
//
//   - Instance lifecycle events (instance-started, -paused, -renamed,
//     -exec, -snapshot-created...) become Events on the VirtualMachine whose
//     spec.lxd names the instance and project, with reason = the action in
//     CamelCase (InstanceStarted) and the action as LXD spells it; they
//     update its facts (run state, event counters, monitor state).
//   - A rename follows the instance: the VirtualMachine naming the old name
//     keeps receiving the instance's events under the new name (the note
//     says so). The renames are kept in Config.StateFile with the
//     instances' LXD UUIDs, so they survive agent restarts (state.go).
//   - In an LXD cluster only this member's events are taken: those whose
//     location is the member's name (read from GET /1.0), or none; the
//     others are counted and skipped (member.go).
//   - Failed operations on an instance (status Failure) become Warning
//     Events with LXD's error text.
//   - Lifecycle events that concern no instance (projects, profiles,
//     networks, storage, images, certificates, cluster, config, warnings)
//     become Events regarding the Node: the hypervisor's audit trail.
//   - Events for instances no VirtualMachine names are counted
//     (vmevents_agent_lxd_unmatched_events_total); malformed messages are
//     counted and skipped with a log line. Every string from LXD is cleaned
//     and bounded (model.Clean) before it reaches Kubernetes.
//
// When the stream ends (LXD restarted, socket gone) every LXD
// VirtualMachine's monitor goes Disconnected with the error, and the source
// reconnects with capped exponential backoff and ±50% jitter; on each
// connection it re-reads every instance's status (GET /1.0/instances), after
// the stream is up so no change falls between the two.
//
// # Why no LXD client library
//
// The official Go client (github.com/canonical/lxd/client) would bring
// LXD's shared packages and their dependency tree (dqlite bindings, cloud
// SDK helpers, gorilla/websocket, ...) into an agent that needs one
// read-only stream and one GET. A general websocket module would be small,
// but the stream only ever flows from LXD to the agent, so the client side
// of RFC 6455 it needs is short (ws.go: the opening handshake, reading
// text/binary and continuation frames, answering ping and close), and
// owning it lets the agent bound every message (MaxMessageBytes, a larger
// one is skipped, not buffered), treat any protocol violation as a lost
// connection rather than a panic, and fuzz the whole path from bytes to
// Occurrence. The package therefore adds no dependency to the module.
package lxdsource
