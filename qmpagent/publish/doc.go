// Package publish is the node agent's Kubernetes edge: it writes a VM's
// facts into VirtualMachine status with server-side apply (field manager
// "vmevents-agent", so the controller's conditions are never touched) and
// tells occurrences as events.k8s.io/v1 Events.
//
// Both writers coalesce: per VM at most one status write is in flight, and a
// later snapshot replaces an unwritten earlier one, so an event storm costs a
// bounded number of API calls while the counters in the snapshot stay exact.
// Failed writes are retried with backoff until they succeed or the VM is gone.
package publish

// FieldManager is the server-side apply field manager the agent writes under.
const FieldManager = "vmevents-agent"

// ReportingController names the agent in the Events it publishes.
const ReportingController = "vmevents.dev/agent"
