package controllers

import (
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

// facts is everything the conditions are computed from: what the agent
// wrote into the VM's status and what its heartbeat Lease says about how
// current that is. It holds no Kubernetes client, so the condition logic is
// a set of pure functions of (facts, previous conditions, now).
type facts struct {
	// status are the agent's facts; Conditions is always nil here.
	status vmv1.VirtualMachineStatus
	// agent is the liveness of the agent on the VM's node.
	agent agentLiveness
	// ioErrorWindow is how long after the last block I/O error a running VM
	// still counts as having errors "keep arriving".
	ioErrorWindow time.Duration
}

// newFacts takes the agent's facts out of vm.
func newFacts(vm *vmv1.VirtualMachine, agent agentLiveness, ioErrorWindow time.Duration) facts {
	st := vm.Status.DeepCopy()
	st.Conditions = nil
	st.ObservedGeneration = 0
	return facts{status: *st, agent: agent, ioErrorWindow: ioErrorWindow}
}

// reported says whether the agent has said anything about the VM yet.
func (f facts) reported() bool { return agentReported(&f.status) }

// agentReported says whether st holds any of the agent's facts. It reads
// the persisted status, so the Event judgement (events.go) can use it too.
func agentReported(st *vmv1.VirtualMachineStatus) bool {
	return st.RunState != "" || st.RunStateReason != "" || st.Monitor != nil
}

// running says whether the VM executes guest code now.
func (f facts) running() bool {
	reason, paused, unknown := f.pauseCause()
	return !paused && !unknown && reason == vmv1.ReasonRunning
}

// agentState is what the node's heartbeat Lease says.
type agentState int

const (
	// agentMissing: no Lease for the node.
	agentMissing agentState = iota
	// agentStale: the Lease was not renewed in time.
	agentStale
	// agentAlive: the Lease is current.
	agentAlive
)

// agentLiveness is the agent's heartbeat, reduced to what conditions need.
type agentLiveness struct {
	state agentState
	// node is the VM's node; lease names the Lease, namespace/name.
	node, lease string
	// lastRenew is the Lease's last renewal (zero if never).
	lastRenew time.Time
}

// livenessOf judges lease (nil when there is none) at now.
func livenessOf(node, namespace string, lease *coordinationv1.Lease, now time.Time, grace time.Duration) agentLiveness {
	a := agentLiveness{node: node, lease: namespace + "/" + heartbeat.LeaseName(node)}
	if lease == nil {
		return a
	}
	a.lastRenew, _ = heartbeat.LastRenewal(lease)
	if heartbeat.Stale(lease, now, grace) {
		a.state = agentStale
		return a
	}
	a.state = agentAlive
	return a
}

// faultStopSlack is how long before the stop a fault may have happened to be
// taken as its cause when the agent did not say (no runStateReason): QEMU
// sends WATCHDOG, GUEST_PANICKED or BLOCK_IO_ERROR and then STOP within
// milliseconds; the slack covers an agent that timestamps the stop when it
// saw it rather than with QEMU's time.
const faultStopSlack = 5 * time.Second

// pauseCause is why the VM is not running, as a Paused reason, and whether
// it is paused at all; unknown is true when the run state itself is unknown.
//
// The source's own word for the state (runStateReason, read with
// monitor.source: QEMU's run state, which the agent re-queries after each
// STOP; libvirt's paused or stopped reason; LXD's status) is authoritative
// (runstate_words.go). Without one this controller knows, the summarised
// run state is used, and for a plain "Paused" the latest fault that stopped
// the VM (a pause/debug watchdog, a pause panic, a stop I/O error) shortly
// before it stopped names the cause.
func (f facts) pauseCause() (reason string, paused, unknown bool) {
	st := f.status
	if reason, ok := causeOfWord(&st); ok {
		return reason, reason != vmv1.ReasonRunning, false
	}
	switch st.RunState {
	case vmv1.RunStateRunning:
		return vmv1.ReasonRunning, false, false
	case vmv1.RunStateSuspended:
		return vmv1.ReasonSuspended, true, false
	case vmv1.RunStateShutdown:
		return vmv1.ReasonShutdown, true, false
	case vmv1.RunStateCrashed:
		return vmv1.ReasonGuestPanicked, true, false
	case vmv1.RunStatePaused:
		return f.latestStopFault(), true, false
	}
	return vmv1.ReasonRunStateUnknown, false, true
}

// latestStopFault names the fault that most recently stopped the VM, or
// UnknownCause.
func (f facts) latestStopFault() string {
	st := f.status
	var best time.Time
	reason := vmv1.ReasonUnknownCause
	consider := func(t time.Time, r string) {
		if t.IsZero() || !f.inCurrentRun(t) {
			return
		}
		if st.RunStateSince != nil && (t.Before(st.RunStateSince.Add(-faultStopSlack)) || t.After(st.RunStateSince.Add(faultStopSlack))) {
			return
		}
		if t.After(best) {
			best, reason = t, r
		}
	}
	if w := st.LastWatchdog; w != nil {
		switch w.Action {
		case "pause":
			consider(w.Time.Time, vmv1.ReasonWatchdog)
		case "debug":
			consider(w.Time.Time, vmv1.ReasonDebug)
		}
	}
	if p := st.LastPanic; p != nil && p.Action == "pause" {
		consider(p.Time.Time, vmv1.ReasonGuestPanicked)
	}
	for _, be := range st.BlockErrors {
		if be.Action == "stop" && be.LastTime != nil {
			consider(be.LastTime.Time, vmv1.ReasonIOError)
		}
	}
	return reason
}

// recent says whether a fault at t still counts at now: it happened in the
// current run and less than the fault window (ioErrorWindow) ago.
func (f facts) recent(t, now time.Time) bool {
	return !t.IsZero() && f.inCurrentRun(t) && now.Before(t.Add(f.ioErrorWindow))
}

// inCurrentRun says whether an event at t happened in the hypervisor
// process that runs now.
func (f facts) inCurrentRun(t time.Time) bool {
	return f.status.StartTime == nil || !t.Before(f.status.StartTime.Time)
}

// restartedAfter says whether the guest was reset, or its hypervisor
// process restarted, at or after t: what ends a panic or a watchdog expiry.
func (f facts) restartedAfter(t time.Time) (how string, ok bool) {
	st := f.status
	if r := st.LastReset; r != nil && !r.Time.Time.Before(t) {
		return fmt.Sprintf("the guest was reset at %s", stamp(r.Time.Time)), true
	}
	if s := st.StartTime; s != nil && s.Time.After(t) {
		return fmt.Sprintf("the hypervisor restarted at %s", stamp(s.Time)), true
	}
	return "", false
}

// resumedAfter says whether the VM has been running since a moment at or
// after t.
func (f facts) resumedAfter(t time.Time) bool {
	s := f.status.RunStateSince
	return f.running() && s != nil && !s.Time.Before(t)
}

// stamp formats a fact's time for messages: absolute, so that messages do
// not change from one reconcile to the next.
func stamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// microTime returns m's time, zero for nil.
func microTime(m *metav1.MicroTime) time.Time {
	if m == nil {
		return time.Time{}
	}
	return m.Time
}
