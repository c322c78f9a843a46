package libvirtsource

import (
	"context"
	"fmt"

	libvirt "github.com/digitalocean/go-libvirt"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// handleLifecycle publishes what libvirt's lifecycle events tell and QMP
// does not; it reports whether the domain was (re)defined.
func (m *Monitor) handleLifecycle(ctx context.Context, l *libvirt.Libvirt, ev libvirt.DomainEventLifecycleMsg) (defined bool) {
	kind := libvirt.DomainEventType(ev.Event)
	name, detail, publishIt, ok := lifecycleText(kind, ev.Detail)
	if !ok {
		return false
	}
	defined = kind == libvirt.DomainEventDefined
	t, found := m.resolver.resolve(ctx, formatUUID(ev.Dom.UUID), ev.Dom.Name, "lifecycle")
	if !found {
		return defined
	}
	if kind == libvirt.DomainEventSuspended || kind == libvirt.DomainEventResumed {
		// QMP's STOP and RESUME tell these as Events, through the
		// subscription. But libvirt relays QEMU's event before it has
		// recorded the new state, so the state read then may be the old
		// one; its own lifecycle event comes after: read the state again.
		m.syncRunState(l, ev.Dom.Name, t.Key)
		return defined
	}
	now := m.now()
	action := "libvirt-domain-" + name
	occ := model.Occurrence{Time: now, Action: action, Reason: model.ReasonFor(action), Series: detail,
		Warning: kind == libvirt.DomainEventCrashed || (kind == libvirt.DomainEventStopped && (detail == "crashed" || detail == "failed")),
		Note:    model.Clean(fmt.Sprintf("libvirt: domain %q %s (%s)", model.Clean(ev.Dom.Name, model.MaxFieldBytes), name, detail), model.MaxNoteBytes)}
	m.pub.UpdateFacts(t.Key, func(f *model.Facts) {
		f.Count(action, 1)
		switch kind {
		case libvirt.DomainEventStarted:
			f.StartTime = now
			f.SetRunState(vmv1.RunStateRunning, detail, now)
		case libvirt.DomainEventStopped:
			state := vmv1.RunStateShutdown
			if detail == "crashed" || detail == "failed" {
				state = vmv1.RunStateCrashed
			}
			f.SetRunState(state, detail, now)
		case libvirt.DomainEventCrashed:
			f.SetRunState(vmv1.RunStateCrashed, detail, now)
		case libvirt.DomainEventPmsuspended:
			f.SetRunState(vmv1.RunStateSuspended, detail, now)
		}
	})
	metrics.EventsReceived.WithLabelValues(vmv1.SourceLibvirt, action).Inc()
	if publishIt && !(m.cfg.AuditOn && (kind == libvirt.DomainEventStarted || kind == libvirt.DomainEventStopped)) {
		source.Tell(m.pub, t, occ, vmv1.SourceLibvirt)
	}
	return defined
}

// lifecycleText names a lifecycle event and its detail.
func lifecycleText(kind libvirt.DomainEventType, detail int32) (name, why string, publish, ok bool) {
	pick := func(words ...string) string {
		if detail >= 0 && int(detail) < len(words) {
			return words[detail]
		}
		return fmt.Sprintf("detail %d", detail)
	}
	switch kind {
	case libvirt.DomainEventDefined:
		return "defined", pick("added", "updated", "renamed", "from snapshot"), true, true
	case libvirt.DomainEventUndefined:
		return "undefined", pick("removed", "renamed"), true, true
	case libvirt.DomainEventStarted:
		return "started", pick("booted", "migrated", "restored", "from snapshot", "wakeup"), true, true
	case libvirt.DomainEventSuspended, libvirt.DomainEventResumed:
		return "", "", false, true
	case libvirt.DomainEventStopped:
		return "stopped", pick("shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot"), true, true
	case libvirt.DomainEventShutdown:
		return "shutdown", pick("finished", "guest", "host"), false, true
	case libvirt.DomainEventPmsuspended:
		return "pmsuspended", pick("memory", "disk"), true, true
	case libvirt.DomainEventCrashed:
		return "crashed", pick("panicked", "crashloaded"), true, true
	}
	return "", "", false, false
}

// pausedReasons are libvirt's virDomainPausedReason values, in order.
var pausedReasons = []vmv1.LibvirtPausedReason{
	vmv1.LibvirtPausedUnknown, vmv1.LibvirtPausedUser, vmv1.LibvirtPausedMigration, vmv1.LibvirtPausedSave,
	vmv1.LibvirtPausedDump, vmv1.LibvirtPausedIOError, vmv1.LibvirtPausedWatchdog, vmv1.LibvirtPausedFromSnapshot,
	vmv1.LibvirtPausedShuttingDown, vmv1.LibvirtPausedSnapshot, vmv1.LibvirtPausedCrashed, vmv1.LibvirtPausedStartingUp,
	vmv1.LibvirtPausedPostcopy, vmv1.LibvirtPausedPostcopyFailed, vmv1.LibvirtPausedAPIError,
}

// runState maps virDomainState and its reason to the model.
func runState(state, reason int32) (vmv1.RunState, string) {
	switch state {
	case 1:
		return vmv1.RunStateRunning, "running"
	case 2:
		return vmv1.RunStateRunning, "blocked"
	case 3:
		why := vmv1.LibvirtPausedUnknown
		if reason >= 0 && int(reason) < len(pausedReasons) {
			why = pausedReasons[reason]
		}
		return vmv1.RunStatePaused, string(why)
	case 4:
		return vmv1.RunStateShutdown, "shutting-down"
	case 5:
		return vmv1.RunStateShutdown, "shutoff"
	case 6:
		return vmv1.RunStateCrashed, "crashed"
	case 7:
		return vmv1.RunStateSuspended, "pmsuspended"
	}
	return "", ""
}

func formatUUID(u libvirt.UUID) string {
	b := u[:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
