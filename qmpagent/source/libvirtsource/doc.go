// Package libvirtsource holds the node agent's libvirt event sources, two
// peers behind the source contract, each publishing through the agent's
// source.Publisher:
//
//   - Audit follows the host's audit log (Follower: rotation, truncation, a
//     partial last line, a position kept across restarts) and turns
//     libvirt's VIRT_CONTROL, VIRT_MACHINE_ID and VIRT_RESOURCE records
//     (parsed by the audit sub-package) into Events (LibvirtStart,
//     LibvirtStop, LibvirtInit, LibvirtMachineID, LibvirtResource<Kind>;
//     Warning when res=failed; the kinds as libvirt's domain_audit.c
//     writes them: resource.go) and facts (run state, start time, vCPUs,
//     memory, disks, NICs). A record is matched to a VirtualMachine by
//     spec.uuid, else by spec.libvirt.domain.
//   - Monitor connects to libvirtd (github.com/digitalocean/go-libvirt, pure
//     Go, no cgo) and subscribes to the QEMU monitor events of every domain a
//     VirtualMachine names in spec.libvirt.domain. Each one is fed through
//     model.ApplyQMP, exactly as an event from a QMP socket, so a suspend
//     is the same Stop Event either way. libvirt's lifecycle events add what
//     QMP cannot tell (defined, undefined, started, stopped, crashed), and
//     its control-error, reboot, device-added and device-removed events
//     the rest (domainevents.go). It reconnects with capped exponential
//     backoff and jitter.
//
// Records and events of domains no VirtualMachine names are counted in
// vmevents_agent_libvirt_unmatched_total and, with Discovery, create one.
// Nothing read from the log or the socket can stop the agent: a line that
// cannot be parsed is logged, counted in vmevents_agent_libvirt_malformed_total
// and skipped, and the next line goes on.
package libvirtsource
