package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// The unit tests drive the pure condition functions with facts as the agent
// reports them; times are relative to t0.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func micro(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(t0.Add(d)) }
func microp(d time.Duration) *metav1.MicroTime {
	m := micro(d)
	return &m
}

// secs is an agent-side time (runStateSince, startTime).
func secs(d time.Duration) *metav1.MicroTime { return microp(d) }

var (
	alive   = agentLiveness{state: agentAlive, node: "n1", lease: "vmevents-system/vmevents-agent-n1"}
	stale   = agentLiveness{state: agentStale, node: "n1", lease: "vmevents-system/vmevents-agent-n1", lastRenew: t0.Add(-2 * time.Minute)}
	missing = agentLiveness{state: agentMissing, node: "n1", lease: "vmevents-system/vmevents-agent-n1"}
)

// running is a healthy VM: started an hour before t0, running since.
func running() vmv1.VirtualMachineStatus {
	return vmv1.VirtualMachineStatus{
		RunState: vmv1.RunStateRunning, RunStateReason: "running",
		RunStateSince: secs(-time.Hour), StartTime: secs(-time.Hour),
		Monitor: &vmv1.MonitorStatus{State: vmv1.MonitorConnected, Connected: true, Endpoint: "/run/vm.qmp", QEMUVersion: "7.2.15"},
	}
}

// with returns running() changed by each mutation.
func with(muts ...func(*vmv1.VirtualMachineStatus)) vmv1.VirtualMachineStatus {
	st := running()
	for _, m := range muts {
		m(&st)
	}
	return st
}

func stopped(reason string, since time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.RunState, st.RunStateReason, st.RunStateSince = runStateFor(reason), reason, secs(since)
	}
}

// runStateFor is the summary run state an agent could write with a QEMU
// run state reason (guest-panicked as Crashed, the less usual of the two an
// agent may write, so the conditions are shown not to rely on Paused).
func runStateFor(reason string) vmv1.RunState {
	switch reason {
	case "running":
		return vmv1.RunStateRunning
	case "suspended":
		return vmv1.RunStateSuspended
	case "shutdown":
		return vmv1.RunStateShutdown
	case "guest-panicked":
		return vmv1.RunStateCrashed
	}
	return vmv1.RunStatePaused
}

func resumed(since time.Duration) func(*vmv1.VirtualMachineStatus) { return stopped("running", since) }

func panicked(action string, at time.Duration, info string) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.LastPanic = &vmv1.PanicInfo{Time: micro(at), Action: action, Info: info}
	}
}

func watchdog(action string, at time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.LastWatchdog = &vmv1.WatchdogInfo{Time: micro(at), Action: action}
	}
}

func reset(at time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.LastReset = &vmv1.ResetInfo{Time: micro(at), Reason: "host-qmp-system-reset"}
	}
}

func restarted(at time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.StartTime, st.RunStateSince = secs(at), secs(at)
	}
}

func blockError(device, action string, at time.Duration, nospace bool) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		reason := "Input/output error"
		if nospace {
			reason = "No space left on device"
		}
		st.BlockErrors = append(st.BlockErrors, vmv1.BlockError{
			Device: device, Operation: "write", Action: action, NoSpace: nospace, Reason: reason, Count: 3, LastTime: microp(at),
		})
	}
}

func monitor(state vmv1.MonitorState, lastError string) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.Monitor = &vmv1.MonitorStatus{State: state, Connected: state == vmv1.MonitorConnected, LastError: lastError}
	}
}

// step is one agent report, evaluated at t0+at.
type step struct {
	at    time.Duration
	agent agentLiveness
	facts vmv1.VirtualMachineStatus
}

// evaluate runs the steps in order, each on the conditions the previous
// one left, as consecutive reconciles would, and returns the VM.
func evaluate(steps ...step) *vmv1.VirtualMachine {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns", Generation: 3}}
	for _, s := range steps {
		conds := vm.Status.Conditions
		vm.Status = s.facts
		vm.Status.Conditions = conds
		computeConditions(vm, newFacts(vm, s.agent, 5*time.Minute), t0.Add(s.at))
	}
	return vm
}

// at is a report from a live agent at t0+d.
func at(d time.Duration, facts vmv1.VirtualMachineStatus) step {
	return step{at: d, agent: alive, facts: facts}
}

// state renders a condition as "Status/Reason".
func state(vm *vmv1.VirtualMachine, t string) string {
	c := meta.FindStatusCondition(vm.Status.Conditions, t)
	if c == nil {
		return "<absent>"
	}
	return string(c.Status) + "/" + c.Reason
}

type want map[string]string

const (
	mon     = vmv1.ConditionMonitorConnected
	paused  = vmv1.ConditionPaused
	panics  = vmv1.ConditionGuestPanicked
	wdog    = vmv1.ConditionWatchdogExpired
	ioerr   = vmv1.ConditionIOError
	ready   = vmv1.ConditionReady
	hwerr   = vmv1.ConditionHardwareError
	storage = vmv1.ConditionStorageDegraded
	stalled = vmv1.ConditionStalled
	healthy = "healthy" // shorthand: the conditions of a healthy VM
)

func check(t *testing.T, vm *vmv1.VirtualMachine, w want, msgContains ...string) {
	t.Helper()
	if _, ok := w[healthy]; ok {
		delete(w, healthy)
		for k, v := range map[string]string{mon: "True/Connected", paused: "False/Running", panics: "False/NoPanic", wdog: "False/NotExpired", ioerr: "False/NoIOError",
			hwerr: "False/NoHardwareError", storage: "False/NoStorageFault", stalled: "False/NotStalled", ready: "True/Running"} {
			if _, set := w[k]; !set {
				w[k] = v
			}
		}
	}
	if len(vm.Status.Conditions) != len(conditionTypes) {
		t.Errorf("got %d conditions, want all %d", len(vm.Status.Conditions), len(conditionTypes))
	}
	for typ, s := range w {
		if got := state(vm, typ); got != s {
			t.Errorf("%s = %s, want %s (message %q)", typ, got, s, message(vm, typ))
		}
	}
	for i := 0; i+1 < len(msgContains); i += 2 {
		if m := message(vm, msgContains[i]); !strings.Contains(m, msgContains[i+1]) {
			t.Errorf("%s message %q lacks %q", msgContains[i], m, msgContains[i+1])
		}
	}
	for _, c := range vm.Status.Conditions {
		if c.ObservedGeneration != vm.Generation {
			t.Errorf("%s observedGeneration = %d, want %d", c.Type, c.ObservedGeneration, vm.Generation)
		}
	}
}

func message(vm *vmv1.VirtualMachine, t string) string {
	if c := meta.FindStatusCondition(vm.Status.Conditions, t); c != nil {
		return c.Message
	}
	return ""
}

func TestMonitorAndAgent(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		want  want
		msg   []string
	}{
		{"a new VM, no facts, live agent", []step{at(0, vmv1.VirtualMachineStatus{})},
			want{mon: "Unknown/AwaitingFacts", paused: "Unknown/AwaitingFacts", panics: "Unknown/AwaitingFacts", wdog: "Unknown/AwaitingFacts", ioerr: "Unknown/AwaitingFacts", ready: "Unknown/AwaitingFacts"}, nil},
		{"a new VM, no agent on the node", []step{{agent: missing}},
			want{mon: "Unknown/NoAgent", ready: "Unknown/NoAgent", paused: "Unknown/AwaitingFacts"}, []string{mon, "vmevents-agent-n1"}},
		{"healthy", []step{at(0, running())}, want{healthy: ""}, []string{mon, "QEMU 7.2.15"}},
		{"stale Lease", []step{{agent: stale, facts: running()}},
			want{mon: "Unknown/AgentNotReporting", ready: "Unknown/AgentNotReporting", paused: "False/Running"}, []string{mon, "last renewed 2026-03-01T11:58:00Z"}},
		{"stale Lease keeps the last faults", []step{{agent: stale, facts: with(panicked("pause", 0, ""), stopped("guest-panicked", 0))}},
			want{mon: "Unknown/AgentNotReporting", ready: "Unknown/AgentNotReporting", panics: "True/Pause", paused: "True/GuestPanicked"}, nil},
		{"Lease missing although facts exist", []step{{agent: missing, facts: running()}},
			want{mon: "Unknown/NoAgent", ready: "Unknown/NoAgent"}, nil},
		{"connecting", []step{at(0, with(monitor(vmv1.MonitorConnecting, "")))},
			want{mon: "False/Connecting", ready: "False/MonitorNotConnected"}, nil},
		{"disconnected", []step{at(0, with(monitor(vmv1.MonitorDisconnected, "read: connection reset by peer")))},
			want{mon: "False/Disconnected", ready: "False/MonitorNotConnected"}, []string{mon, "connection reset by peer"}},
		{"refused", []step{at(0, with(monitor(vmv1.MonitorRefused, "/tmp/x.sock is outside the trusted socket roots")))},
			want{mon: "False/Refused", ready: "False/MonitorNotConnected"}, []string{mon, "outside the trusted socket roots", ready, "MonitorConnected is False (Refused)"}},
		{"Lease comes back", []step{{agent: stale, facts: running()}, at(time.Minute, running())}, want{healthy: ""}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, evaluate(c.steps...), c.want, c.msg...) })
	}
}

func TestPausedCauses(t *testing.T) {
	cases := []struct {
		runState string
		reason   string
		event    string
		ready    string
	}{
		{"paused", "PausedByUser", "Normal", "Paused"},
		// Without the fault's own event (the agent connected after it),
		// the run state alone sets the fault condition too.
		{"io-error", "IOError", "Warning", "IOError"},
		{"watchdog", "Watchdog", "Warning", "WatchdogExpired"},
		{"guest-panicked", "GuestPanicked", "Warning", "GuestPanicked"},
		{"debug", "Debug", "Warning", "Paused"},
		{"suspended", "Suspended", "Normal", "Paused"},
		{"shutdown", "Shutdown", "Normal", "Paused"},
		{"inmigrate", "Migration", "Normal", "Paused"},
		{"postmigrate", "Migration", "Normal", "Paused"},
		{"finish-migrate", "Migration", "Normal", "Paused"},
		{"colo", "Migration", "Normal", "Paused"},
		{"prelaunch", "Prelaunch", "Normal", "Paused"},
		{"save-vm", "Snapshot", "Normal", "Paused"},
		{"restore-vm", "Snapshot", "Normal", "Paused"},
		{"internal-error", "InternalError", "Warning", "Paused"},
	}
	for _, c := range cases {
		t.Run(c.runState, func(t *testing.T) {
			vm := evaluate(at(0, running()), at(time.Minute, with(stopped(c.runState, time.Minute))))
			check(t, vm, want{paused: "True/" + c.reason, ready: "False/" + c.ready, mon: "True/Connected"}, paused, `QEMU run state "`+c.runState+`"`)
			if got := eventTypeFor(*meta.FindStatusCondition(vm.Status.Conditions, paused), vm.Status.Conditions, agentReported(&vm.Status)); got != c.event {
				t.Errorf("Event type %q, want %q", got, c.event)
			}
			// Ready False follows: a Warning only for a fault.
			if got := eventTypeFor(*meta.FindStatusCondition(vm.Status.Conditions, ready), vm.Status.Conditions, agentReported(&vm.Status)); got != c.event {
				t.Errorf("Ready Event type %q, want %q", got, c.event)
			}
			vm = evaluate(at(0, running()), at(time.Minute, with(stopped(c.runState, time.Minute))), at(2*time.Minute, with(resumed(2*time.Minute))))
			check(t, vm, want{paused: "False/Resumed", ready: "True/Running"})
		})
	}
}

func TestPausedFallbackWithoutQEMUReason(t *testing.T) {
	plain := func(since time.Duration) func(*vmv1.VirtualMachineStatus) {
		return func(st *vmv1.VirtualMachineStatus) {
			st.RunState, st.RunStateReason, st.RunStateSince = vmv1.RunStatePaused, "", secs(since)
		}
	}
	cases := []struct {
		name  string
		facts vmv1.VirtualMachineStatus
		want  string
	}{
		{"watchdog pause just before the stop", with(watchdog("pause", 10*time.Second), plain(10*time.Second)), "True/Watchdog"},
		{"watchdog debug", with(watchdog("debug", 10*time.Second), plain(11*time.Second)), "True/Debug"},
		{"panic pause", with(panicked("pause", 10*time.Second, ""), plain(10*time.Second)), "True/GuestPanicked"},
		{"block error stop", with(blockError("drive0", "stop", 10*time.Second, false), plain(10*time.Second)), "True/IOError"},
		{"the latest fault wins", with(watchdog("pause", 8*time.Second), blockError("drive0", "stop", 10*time.Second, false), plain(10*time.Second)), "True/IOError"},
		{"a watchdog that did not stop the VM", with(watchdog("reset", 10*time.Second), plain(10*time.Second)), "True/UnknownCause"},
		{"a fault long before the stop", with(watchdog("pause", -time.Hour+time.Minute), plain(10*time.Second)), "True/UnknownCause"},
		{"a fault of an earlier run", with(restarted(5*time.Second), watchdog("pause", 4*time.Second), plain(5*time.Second)), "True/UnknownCause"},
		{"nothing known", with(plain(10 * time.Second)), "True/UnknownCause"},
		{"crashed", with(func(st *vmv1.VirtualMachineStatus) { st.RunState, st.RunStateReason = vmv1.RunStateCrashed, "" }), "True/GuestPanicked"},
		{"suspended", with(func(st *vmv1.VirtualMachineStatus) { st.RunState, st.RunStateReason = vmv1.RunStateSuspended, "" }), "True/Suspended"},
		{"shutdown", with(func(st *vmv1.VirtualMachineStatus) { st.RunState, st.RunStateReason = vmv1.RunStateShutdown, "" }), "True/Shutdown"},
		{"run state unknown", with(func(st *vmv1.VirtualMachineStatus) { st.RunState, st.RunStateReason = vmv1.RunStateUnknown, "" }), "Unknown/RunStateUnknown"},
		{"a QEMU run state newer than the controller", with(func(st *vmv1.VirtualMachineStatus) { st.RunStateReason = "hibernating" }), "False/Running"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, evaluate(at(20*time.Second, c.facts)), want{paused: c.want})
		})
	}
}

func TestGuestPanicked(t *testing.T) {
	const crash = "Hyper-V crash: 0x1 0x2 0x3 0x4 0x5"
	cases := []struct {
		name  string
		steps []step
		want  want
		msg   []string
	}{
		{"never panicked", []step{at(0, running())}, want{healthy: ""}, nil},
		{"action pause", []step{at(0, with(panicked("pause", 0, crash), stopped("guest-panicked", 0)))},
			want{panics: "True/Pause", paused: "True/GuestPanicked", ready: "False/GuestPanicked"}, []string{panics, crash, ready, "GuestPanicked is True (Pause)"}},
		{"action pause, resumed without a reset: still panicked", []step{
			at(0, with(panicked("pause", 0, ""), stopped("guest-panicked", 0))),
			at(time.Minute, with(panicked("pause", 0, ""), resumed(time.Minute)))},
			want{panics: "True/Pause", paused: "False/Resumed", ready: "False/GuestPanicked"}, nil},
		{"action pause, reset, still stopped", []step{
			at(0, with(panicked("pause", 0, ""), stopped("guest-panicked", 0))),
			at(time.Minute, with(panicked("pause", 0, ""), reset(time.Minute), stopped("guest-panicked", 0)))},
			want{panics: "True/Pause"}, nil},
		{"action pause, reset and running: recovered", []step{
			at(0, with(panicked("pause", 0, ""), stopped("guest-panicked", 0))),
			at(time.Minute, with(panicked("pause", 0, ""), reset(time.Minute), resumed(time.Minute)))},
			want{panics: "False/Recovered", paused: "False/Resumed", ready: "True/Running"}, []string{panics, "the guest was reset at 2026-03-01T12:01:00Z"}},
		{"recovered, then reset again: the message keeps the reset that recovered it", []step{
			at(0, with(panicked("pause", 0, ""), stopped("guest-panicked", 0))),
			at(time.Minute, with(panicked("pause", 0, ""), reset(time.Minute), resumed(time.Minute))),
			at(3*time.Minute, with(panicked("pause", 0, ""), reset(3*time.Minute), resumed(time.Minute)))},
			want{panics: "False/Recovered", ready: "True/Running"}, []string{panics, "the guest was reset at 2026-03-01T12:01:00Z"}},
		{"recovered, then shut down: still recovered", []step{
			at(0, with(panicked("pause", 0, ""), stopped("guest-panicked", 0))),
			at(time.Minute, with(panicked("pause", 0, ""), reset(time.Minute), resumed(time.Minute))),
			at(2*time.Minute, with(panicked("pause", 0, ""), reset(time.Minute), stopped("shutdown", 2*time.Minute)))},
			want{panics: "False/Recovered", paused: "True/Shutdown"}, nil},
		{"action poweroff", []step{at(0, with(panicked("poweroff", 0, ""), stopped("shutdown", 0), monitor(vmv1.MonitorDisconnected, "EOF")))},
			want{panics: "True/Poweroff", ready: "False/MonitorNotConnected"}, []string{panics, "powered the VM off"}},
		{"action poweroff, restarted: recovered", []step{
			at(0, with(panicked("poweroff", 0, ""), stopped("shutdown", 0), monitor(vmv1.MonitorDisconnected, "EOF"))),
			at(time.Minute, with(panicked("poweroff", 0, ""), restarted(time.Minute)))},
			want{panics: "False/Recovered", ready: "True/Running"}, []string{panics, "the hypervisor restarted"}},
		{"action run", []step{at(0, with(panicked("run", 0, "")))},
			want{panics: "True/Run", paused: "False/Running", ready: "False/GuestPanicked"}, nil},
		{"action run, guest rebooted after its dump", []step{at(0, with(panicked("run", 0, ""))), at(time.Minute, with(panicked("run", 0, ""), reset(30*time.Second)))},
			want{panics: "False/Recovered", ready: "True/Running"}, nil},
		{"an action newer than the controller", []step{at(0, with(panicked("hibernate", 0, "")))},
			want{panics: "True/OtherAction"}, nil},
		{"a reset before the panic does not count", []step{at(0, with(panicked("run", 0, ""), reset(-time.Second)))},
			want{panics: "True/Run"}, nil},
		{"the agent missed the panic: the run state tells", []step{at(0, with(stopped("guest-panicked", 0)))},
			want{panics: "True/Pause", paused: "True/GuestPanicked", ready: "False/GuestPanicked"}, []string{panics, "did not see the panic event"}},
		{"the agent missed a second panic", []step{at(time.Hour, with(panicked("run", 0, ""), reset(time.Minute), stopped("guest-panicked", time.Hour)))},
			want{panics: "True/Pause"}, nil},
		{"the agent missed the panic, then running", []step{at(0, with(stopped("guest-panicked", 0))), at(time.Minute, with(reset(time.Minute), resumed(time.Minute)))},
			want{panics: "False/Recovered", ready: "True/Running"}, nil},
		{"the agent dropped the panic: still a recovery", []step{at(0, with(panicked("run", 0, ""))), at(time.Minute, running())},
			want{panics: "False/Recovered"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, evaluate(c.steps...), c.want, c.msg...) })
	}
}

func TestWatchdogExpired(t *testing.T) {
	fire := 10 * time.Second
	cases := []struct {
		name  string
		steps []step
		want  want
		msg   []string
	}{
		{"reset: fired", []step{at(fire, with(watchdog("reset", fire)))}, want{wdog: "True/Reset", ready: "False/WatchdogExpired"}, nil},
		{"reset: the RESET follows", []step{at(fire, with(watchdog("reset", fire))), at(fire+time.Second, with(watchdog("reset", fire), reset(fire+time.Millisecond)))},
			want{wdog: "False/Recovered", ready: "True/Running"}, nil},
		{"pause: reset and ran, then paused by a user: still recovered", []step{
			at(fire, with(watchdog("pause", fire), stopped("watchdog", fire))),
			at(time.Minute, with(watchdog("pause", fire), reset(time.Minute), resumed(time.Minute))),
			at(2*time.Minute, with(watchdog("pause", fire), reset(time.Minute), stopped("paused", 2*time.Minute)))},
			want{wdog: "False/Recovered", paused: "True/PausedByUser"}, nil},
		{"shutdown: fired, -no-shutdown", []step{at(fire, with(watchdog("shutdown", fire), stopped("shutdown", fire)))},
			want{wdog: "True/Shutdown", paused: "True/Shutdown", ready: "False/WatchdogExpired"}, nil},
		{"shutdown: resumed without a reset is not enough", []step{at(fire, with(watchdog("shutdown", fire), stopped("shutdown", fire))), at(time.Minute, with(watchdog("shutdown", fire), resumed(time.Minute)))},
			want{wdog: "True/Shutdown"}, nil},
		{"shutdown: reset and running", []step{at(fire, with(watchdog("shutdown", fire), stopped("shutdown", fire))), at(time.Minute, with(watchdog("shutdown", fire), reset(time.Minute), resumed(time.Minute)))},
			want{wdog: "False/Recovered", ready: "True/Running"}, nil},
		{"poweroff: fired", []step{at(fire, with(watchdog("poweroff", fire), monitor(vmv1.MonitorDisconnected, "EOF"), stopped("shutdown", fire)))},
			want{wdog: "True/Poweroff"}, nil},
		{"poweroff: restarted", []step{at(fire, with(watchdog("poweroff", fire), stopped("shutdown", fire))), at(time.Minute, with(watchdog("poweroff", fire), restarted(time.Minute)))},
			want{wdog: "False/Recovered", ready: "True/Running"}, nil},
		{"pause: fired", []step{at(fire, with(watchdog("pause", fire), stopped("watchdog", fire)))},
			want{wdog: "True/Pause", paused: "True/Watchdog", ready: "False/WatchdogExpired"}, nil},
		{"pause: the STOP not reported yet", []step{at(fire, with(watchdog("pause", fire)))}, want{wdog: "True/Pause"}, nil},
		{"pause: resumed", []step{at(fire, with(watchdog("pause", fire), stopped("watchdog", fire))), at(time.Minute, with(watchdog("pause", fire), resumed(time.Minute)))},
			want{wdog: "False/Recovered", paused: "False/Resumed", ready: "True/Running"}, nil},
		{"reset, then reset again: the message keeps the reset that recovered it", []step{
			at(fire, with(watchdog("reset", fire))),
			at(time.Minute, with(watchdog("reset", fire), reset(time.Minute))),
			at(3*time.Minute, with(watchdog("reset", fire), reset(3*time.Minute)))},
			want{wdog: "False/Recovered"}, []string{wdog, "the guest was reset at 2026-03-01T12:01:00Z"}},
		{"pause: resumed, paused and resumed again: the message keeps the first resume", []step{
			at(fire, with(watchdog("pause", fire), stopped("watchdog", fire))),
			at(time.Minute, with(watchdog("pause", fire), resumed(time.Minute))),
			at(2*time.Minute, with(watchdog("pause", fire), stopped("paused", 2*time.Minute))),
			at(3*time.Minute, with(watchdog("pause", fire), resumed(3*time.Minute)))},
			want{wdog: "False/Recovered"}, []string{wdog, "the VM runs again since 2026-03-01T12:01:00Z"}},
		{"pause: resumed, then paused by a user: still recovered", []step{
			at(fire, with(watchdog("pause", fire), stopped("watchdog", fire))),
			at(time.Minute, with(watchdog("pause", fire), resumed(time.Minute))),
			at(2*time.Minute, with(watchdog("pause", fire), stopped("paused", 2*time.Minute)))},
			want{wdog: "False/Recovered", paused: "True/PausedByUser"}, nil},
		{"debug: fired", []step{at(fire, with(watchdog("debug", fire), stopped("debug", fire)))},
			want{wdog: "True/Debug", paused: "True/Debug"}, nil},
		{"debug: resumed", []step{at(fire, with(watchdog("debug", fire), stopped("debug", fire))), at(time.Minute, with(watchdog("debug", fire), resumed(time.Minute)))},
			want{wdog: "False/Recovered"}, nil},
		{"none: fired, the guest runs on", []step{at(fire, with(watchdog("none", fire)))}, want{wdog: "True/None", paused: "False/Running", ready: "False/WatchdogExpired"}, nil},
		{"none: running is not enough", []step{at(fire, with(watchdog("none", fire))), at(time.Hour, with(watchdog("none", fire), resumed(time.Minute)))},
			want{wdog: "True/None"}, nil},
		{"none: reset", []step{at(fire, with(watchdog("none", fire))), at(time.Minute, with(watchdog("none", fire), reset(time.Minute)))},
			want{wdog: "False/Recovered"}, nil},
		{"inject-nmi: fired", []step{at(fire, with(watchdog("inject-nmi", fire)))}, want{wdog: "True/InjectNMI"}, nil},
		{"inject-nmi: restarted", []step{at(fire, with(watchdog("inject-nmi", fire))), at(time.Minute, with(watchdog("inject-nmi", fire), restarted(time.Minute)))},
			want{wdog: "False/Recovered"}, nil},
		{"an action newer than the controller", []step{at(fire, with(watchdog("explode", fire)))}, want{wdog: "True/OtherAction"}, nil},
		{"the agent missed the WATCHDOG: the run state tells", []step{at(fire, with(stopped("watchdog", fire)))}, want{wdog: "True/Pause", paused: "True/Watchdog"}, nil},
		{"the agent missed the WATCHDOG, then resumed", []step{at(fire, with(stopped("watchdog", fire))), at(time.Minute, with(resumed(time.Minute)))}, want{wdog: "False/Recovered", ready: "True/Running"}, nil},
		{"an expiry of an earlier run, running now", []step{at(time.Minute, with(watchdog("none", fire), restarted(time.Minute)))}, want{wdog: "False/Recovered"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, evaluate(c.steps...), c.want, c.msg...) })
	}
}

func TestIOError(t *testing.T) {
	hit := 10 * time.Second
	cases := []struct {
		name  string
		steps []step
		want  want
		msg   []string
	}{
		{"stop: paused on the error", []step{at(hit, with(blockError("drive0", "stop", hit, false), stopped("io-error", hit)))},
			want{ioerr: "True/PausedOnError", paused: "True/IOError", ready: "False/IOError"},
			[]string{ioerr, "device drive0 write error: Input/output error, action stop"}},
		{"stop: ENOSPC", []step{at(hit, with(blockError("drive0", "stop", hit, true), stopped("io-error", hit)))},
			want{ioerr: "True/PausedOnError"}, []string{ioerr, "No space left on device (ENOSPC)"}},
		{"stop: paused hours after the error is still paused on it", []step{at(5*time.Hour, with(blockError("drive0", "stop", hit, false), stopped("io-error", hit)))},
			want{ioerr: "True/PausedOnError"}, nil},
		{"stop: resumed, no new error", []step{
			at(hit, with(blockError("drive0", "stop", hit, false), stopped("io-error", hit))),
			at(time.Minute, with(blockError("drive0", "stop", hit, false), resumed(time.Minute)))},
			want{ioerr: "False/Recovered", paused: "False/Resumed", ready: "True/Running"}, []string{ioerr, "last: device drive0"}},
		{"stop: resumed, the error again", []step{
			at(hit, with(blockError("drive0", "stop", hit, false), stopped("io-error", hit))),
			at(time.Minute, with(blockError("drive0", "stop", time.Minute+time.Millisecond, false), resumed(time.Minute)))},
			want{ioerr: "True/RecentErrors"}, nil},
		{"report: errors keep arriving", []step{at(hit, with(blockError("drive1", "report", hit, false)))},
			want{ioerr: "True/RecentErrors", paused: "False/Running", ready: "False/IOError"}, []string{ioerr, "in the last 5m0s: device drive1"}},
		{"ignore: errors keep arriving", []step{at(hit, with(blockError("drive1", "ignore", hit, false)))},
			want{ioerr: "True/RecentErrors"}, nil},
		{"report: the window passed", []step{at(hit, with(blockError("drive1", "report", hit, false))), at(hit+5*time.Minute, with(blockError("drive1", "report", hit, false)))},
			want{ioerr: "False/Recovered", ready: "True/Running"}, nil},
		{"report: old errors on a fresh VM", []step{at(hit, with(blockError("drive1", "report", -2*time.Hour, false)))},
			want{ioerr: "False/Recovered"}, nil},
		{"many devices, bounded message", []step{at(hit, with(
			blockError("a", "report", hit, false), blockError("b", "report", hit+1, false), blockError("c", "report", hit+2, false),
			blockError("d", "report", hit+3, false), blockError("e", "report", hit+4, false)))},
			want{ioerr: "True/RecentErrors"}, []string{ioerr, "device e write", ioerr, "and 2 more device(s)"}},
		{"no errors", []step{at(hit, running())}, want{ioerr: "False/NoIOError"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, evaluate(c.steps...), c.want, c.msg...) })
	}
}

func TestReadyOrder(t *testing.T) {
	// A watchdog pause after a panic: Ready names the panic, the most
	// specific cause, and its message carries the panic's.
	vm := evaluate(at(time.Minute, with(panicked("pause", 0, ""), watchdog("pause", time.Second), stopped("watchdog", time.Second))))
	check(t, vm, want{ready: "False/GuestPanicked", wdog: "True/Pause", paused: "True/Watchdog"}, ready, "GuestPanicked is True (Pause)")
}

func TestLastTransitionTimeMovesOnlyOnFlips(t *testing.T) {
	first := evaluate(at(0, with(stopped("paused", 0))))
	c1 := *meta.FindStatusCondition(first.Status.Conditions, paused)

	// The cause changes (user pause, then an I/O error while paused): same
	// status, new reason and message, same lastTransitionTime.
	vm := evaluate(at(0, with(stopped("paused", 0))), at(90*time.Second, with(stopped("io-error", 0))))
	c2 := *meta.FindStatusCondition(vm.Status.Conditions, paused)
	if c2.Reason != vmv1.ReasonIOError || c2.Message == c1.Message {
		t.Fatalf("reason/message not updated in place: %+v", c2)
	}
	if !c2.LastTransitionTime.Equal(&c1.LastTransitionTime) {
		t.Fatalf("lastTransitionTime moved without a flip: %s -> %s", c1.LastTransitionTime, c2.LastTransitionTime)
	}

	// A flip moves it, to the whole second of the reconcile.
	vm = evaluate(at(0, with(stopped("paused", 0))), at(90*time.Second+500*time.Millisecond, running()))
	c3 := *meta.FindStatusCondition(vm.Status.Conditions, paused)
	if want := t0.Add(90 * time.Second); !c3.LastTransitionTime.Time.Equal(want) {
		t.Fatalf("lastTransitionTime after the flip = %s, want %s", c3.LastTransitionTime, want)
	}

	// A second flip within the second of the first is held back until the
	// next second, so that each flip has its own lastTransitionTime (and
	// Event); the first flip out of AwaitingFacts is not.
	held := evaluate(at(0, with(stopped("paused", 0))), at(100*time.Millisecond, running()))
	beforeFlip := held.DeepCopy()
	conds := held.Status.Conditions
	held.Status = with(stopped("paused", 0))
	held.Status.Conditions = conds
	computeConditions(held, newFacts(held, alive, 5*time.Minute), t0.Add(300*time.Millisecond))
	if got := flipsTooSoon(beforeFlip.Status.Conditions, held.Status.Conditions, t0.Add(300*time.Millisecond)); got != 700*time.Millisecond {
		t.Fatalf("a flip 200ms after the last: hold back %s, want 700ms", got)
	}
	if got := flipsTooSoon(beforeFlip.Status.Conditions, held.Status.Conditions, t0.Add(1300*time.Millisecond)); got != 0 {
		t.Fatalf("a second later: hold back %s, want 0", got)
	}
	fresh := &vmv1.VirtualMachine{}
	computeConditions(fresh, newFacts(fresh, alive, 5*time.Minute), t0)
	initial := fresh.DeepCopy()
	fresh.Status = running()
	fresh.Status.Conditions = initial.Status.Conditions
	computeConditions(fresh, newFacts(fresh, alive, 5*time.Minute), t0.Add(100*time.Millisecond))
	if got := flipsTooSoon(initial.Status.Conditions, fresh.Status.Conditions, t0.Add(100*time.Millisecond)); got != 0 {
		t.Fatalf("first facts after AwaitingFacts: hold back %s, want 0", got)
	}

	// The same facts again change nothing at all.
	again := vm.DeepCopy()
	computeConditions(again, newFacts(again, alive, 5*time.Minute), t0.Add(time.Hour))
	if !conditionsEqual(vm.Status.Conditions, again.Status.Conditions) {
		t.Fatalf("recomputing the same facts changed the conditions:\n%v\n%v", vm.Status.Conditions, again.Status.Conditions)
	}
}

func TestRequeueAfter(t *testing.T) {
	now := t0
	f := newFacts(&vmv1.VirtualMachine{Status: running()}, alive, 5*time.Minute)
	if got := requeueAfter(f, now); got != 0 {
		t.Errorf("live agent: requeue after %s, want none (the node's stale timer wakes it)", got)
	}
	f.agent = stale
	if got := requeueAfter(f, now); got != 0 {
		t.Errorf("stale agent: requeue after %s, want none (the Lease watch brings it back)", got)
	}
	f = newFacts(&vmv1.VirtualMachine{Status: with(blockError("d", "report", -time.Minute, false))}, alive, 5*time.Minute)
	if got := requeueAfter(f, now); got != 4*time.Minute {
		t.Errorf("recent I/O error: requeue after %s, want 4m (when it leaves the window)", got)
	}
}
