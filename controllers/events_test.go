package controllers

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

func TestEventTypeFor(t *testing.T) {
	cases := []struct {
		typ, status, reason string
		// silent: the agent has reported nothing on the VM yet.
		silent bool
		want   string
	}{
		{ready, "Unknown", vmv1.ReasonAwaitingFacts, false, ""},
		{mon, "Unknown", vmv1.ReasonAwaitingFacts, false, ""},
		{mon, "Unknown", vmv1.ReasonAwaitingFacts, true, ""},
		{ready, "True", vmv1.ReasonReady, false, "Normal"},
		{ready, "False", "GuestPanicked", false, "Warning"},
		{ready, "Unknown", vmv1.ReasonAgentNotReporting, false, "Warning"},
		{mon, "True", vmv1.ReasonConnected, false, "Normal"},
		{mon, "False", vmv1.ReasonRefused, false, "Warning"},
		{mon, "Unknown", vmv1.ReasonNoAgent, false, "Warning"},
		{mon, "Unknown", vmv1.ReasonAgentNotReporting, false, "Warning"},
		// A VM nobody has reported on: Unknown is where it starts.
		{mon, "Unknown", vmv1.ReasonNoAgent, true, ""},
		{ready, "Unknown", vmv1.ReasonNoAgent, true, ""},
		{mon, "Unknown", vmv1.ReasonAgentNotReporting, true, ""},
		{ready, "Unknown", vmv1.ReasonAgentNotReporting, true, ""},
		{paused, "True", vmv1.ReasonWatchdog, false, "Warning"},
		{paused, "True", vmv1.ReasonUnknownCause, false, "Warning"},
		{paused, "True", vmv1.ReasonPausedByUser, false, "Normal"},
		{paused, "True", vmv1.ReasonMigration, false, "Normal"},
		{paused, "Unknown", vmv1.ReasonRunStateUnknown, false, "Warning"},
		{paused, "False", vmv1.ReasonResumed, false, "Normal"},
		{paused, "False", vmv1.ReasonRunning, false, ""},
		{panics, "True", vmv1.ReasonPause, false, "Warning"},
		{panics, "False", vmv1.ReasonRecovered, false, "Normal"},
		{panics, "False", vmv1.ReasonNoPanic, false, ""},
		{wdog, "True", vmv1.ReasonInjectNMI, false, "Warning"},
		{wdog, "False", vmv1.ReasonRecovered, false, "Normal"},
		{wdog, "False", vmv1.ReasonNotExpired, false, ""},
		{ioerr, "True", vmv1.ReasonRecentErrors, false, "Warning"},
		{ioerr, "False", vmv1.ReasonRecovered, false, "Normal"},
		{ioerr, "False", vmv1.ReasonNoIOError, false, ""},
		{hwerr, "True", vmv1.ReasonMemoryErrorInjected, false, "Warning"},
		{hwerr, "False", vmv1.ReasonRecovered, false, "Normal"},
		{hwerr, "False", vmv1.ReasonNoHardwareError, false, ""},
		{storage, "True", vmv1.ReasonQuorumChildBad, false, "Warning"},
		{storage, "False", vmv1.ReasonRecovered, false, "Normal"},
		{storage, "False", vmv1.ReasonNoStorageFault, false, ""},
		{stalled, "True", vmv1.ReasonMonitorRefused, false, "Warning"},
		{stalled, "False", vmv1.ReasonRecovered, false, "Normal"},
		{stalled, "False", vmv1.ReasonNotStalled, false, ""},
		{paused, "True", vmv1.ReasonPostCopyFailed, false, "Warning"},
		{paused, "True", vmv1.ReasonAPIError, false, "Warning"},
		{paused, "True", vmv1.ReasonDump, false, "Normal"},
	}
	for _, c := range cases {
		got := eventTypeFor(metav1.Condition{Type: c.typ, Status: metav1.ConditionStatus(c.status), Reason: c.reason}, nil, !c.silent)
		if got != c.want {
			t.Errorf("%s=%s (%s), agent silent %t: %q, want %q", c.typ, c.status, c.reason, c.silent, got, c.want)
		}
	}
}

// TestNewVMWithoutAgentTellsNothing: the conditions a VM gets on its first
// reconcile, with or without an agent on its node, are its starting state
// and deserve no Event.
func TestNewVMWithoutAgentTellsNothing(t *testing.T) {
	for name, agent := range map[string]agentLiveness{"no Lease": missing, "stale Lease": stale, "live agent": alive} {
		vm := evaluate(step{agent: agent})
		if len(vm.Status.Conditions) != len(conditionTypes) {
			t.Fatalf("%s: %d conditions", name, len(vm.Status.Conditions))
		}
		for _, c := range vm.Status.Conditions {
			if got := eventTypeFor(c, vm.Status.Conditions, agentReported(&vm.Status)); got != "" {
				t.Errorf("%s: %s=%s (%s) on a new VM: a %s Event, want none", name, c.Type, c.Status, c.Reason, got)
			}
		}
	}
}

// Ready False is a Warning only when a fault causes it: its reason, and
// for Paused the Paused condition persisted beside it, decide.
func TestReadyFalseEventType(t *testing.T) {
	pausedFor := func(reason string) []metav1.Condition {
		return []metav1.Condition{{Type: paused, Status: "True", Reason: reason}}
	}
	cases := []struct {
		name   string
		reason string
		conds  []metav1.Condition
		want   string
	}{
		{"prelaunch (-S, waiting for cont)", vmv1.ConditionPaused, pausedFor(vmv1.ReasonPrelaunch), "Normal"},
		{"an operator's pause", vmv1.ConditionPaused, pausedFor(vmv1.ReasonPausedByUser), "Normal"},
		{"a clean shutdown", vmv1.ConditionPaused, pausedFor(vmv1.ReasonShutdown), "Normal"},
		{"migration", vmv1.ConditionPaused, pausedFor(vmv1.ReasonMigration), "Normal"},
		{"snapshot", vmv1.ConditionPaused, pausedFor(vmv1.ReasonSnapshot), "Normal"},
		{"suspended", vmv1.ConditionPaused, pausedFor(vmv1.ReasonSuspended), "Normal"},
		{"libvirt dump", vmv1.ConditionPaused, pausedFor(vmv1.ReasonDump), "Normal"},
		{"paused, cause unknown", vmv1.ConditionPaused, pausedFor(vmv1.ReasonUnknownCause), "Warning"},
		{"paused by a debugger", vmv1.ConditionPaused, pausedFor(vmv1.ReasonDebug), "Warning"},
		{"libvirt API error", vmv1.ConditionPaused, pausedFor(vmv1.ReasonAPIError), "Warning"},
		{"Paused condition missing", vmv1.ConditionPaused, nil, "Warning"},
		{"guest panicked", vmv1.ConditionGuestPanicked, pausedFor(vmv1.ReasonGuestPanicked), "Warning"},
		{"watchdog", vmv1.ConditionWatchdogExpired, nil, "Warning"},
		{"I/O error", vmv1.ConditionIOError, pausedFor(vmv1.ReasonIOError), "Warning"},
		{"hardware error", vmv1.ConditionHardwareError, nil, "Warning"},
		{"storage degraded", vmv1.ConditionStorageDegraded, nil, "Warning"},
		{"monitor lost or refused", vmv1.ReasonMonitorNotConnected, nil, "Warning"},
		{"not running", vmv1.ReasonNotRunning, nil, "Warning"},
	}
	for _, c := range cases {
		got := eventTypeFor(metav1.Condition{Type: ready, Status: "False", Reason: c.reason}, c.conds, true)
		if got != c.want {
			t.Errorf("%s: Ready False (%s): %q, want %q", c.name, c.reason, got, c.want)
		}
	}
}

func TestEventName(t *testing.T) {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", UID: types.UID("uid-1")}}
	c := metav1.Condition{Type: panics, Status: "True", Reason: vmv1.ReasonPause, LastTransitionTime: metav1.NewTime(t0)}
	name := eventName(vm, c)
	if !strings.HasPrefix(name, "db-1.") || len(validation.IsDNS1123Subdomain(name)) > 0 {
		t.Fatalf("bad name %q", name)
	}
	same := c
	same.Reason, same.Message = vmv1.ReasonRun, "changed in place"
	if eventName(vm, same) != name {
		t.Errorf("a reason change in place must not make a new Event")
	}
	for what, other := range map[string]metav1.Condition{
		"status": {Type: panics, Status: "False", LastTransitionTime: c.LastTransitionTime},
		"time":   {Type: panics, Status: "True", LastTransitionTime: metav1.NewTime(t0.Add(time.Second))},
		"type":   {Type: wdog, Status: "True", LastTransitionTime: c.LastTransitionTime},
	} {
		if eventName(vm, other) == name {
			t.Errorf("another %s, same Event name", what)
		}
	}
	otherVM := vm.DeepCopy()
	otherVM.UID = "uid-2" // the same name, re-created
	if eventName(otherVM, c) == name {
		t.Errorf("a re-created VM shares Event names with its predecessor")
	}
	long := vm.DeepCopy()
	long.Name = strings.Repeat("a", 253)
	if n := eventName(long, c); len(n) > 253 || len(validation.IsDNS1123Subdomain(n)) > 0 {
		t.Errorf("long VM name gives an invalid Event name %q", n)
	}
}

func TestTransitionEvent(t *testing.T) {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", UID: "uid-1"}}
	c := metav1.Condition{Type: mon, Status: "False", Reason: vmv1.ReasonRefused, Message: strings.Repeat("x", 5000), LastTransitionTime: metav1.NewTime(t0)}
	ev := transitionEvent(vm, c, corev1.EventTypeWarning, "pod-1")
	if ev.Reason != "MonitorConnectedFalse" || ev.Action != EventAction || ev.ReportingController != ReportingController || ev.ReportingInstance != "pod-1" {
		t.Errorf("unexpected event %+v", ev)
	}
	if len(ev.Message) > noteLimit {
		t.Errorf("note of %d bytes, the API server takes %d", len(ev.Message), noteLimit)
	}
	if !ev.EventTime.Time.Equal(t0) || ev.InvolvedObject.UID != "uid-1" || ev.Namespace != "ns" || ev.Labels[LabelConditionType] != mon {
		t.Errorf("unexpected event %+v", ev)
	}
	// What core/v1 readers (kubectl describe, get events --sort-by) use.
	if !ev.FirstTimestamp.Time.Equal(t0) || !ev.LastTimestamp.Time.Equal(t0) || ev.Count != 1 || ev.Source.Component != SourceComponent {
		t.Errorf("legacy fields first %v last %v count %d source %+v", ev.FirstTimestamp, ev.LastTimestamp, ev.Count, ev.Source)
	}
}

func TestStatusApplySendsOnlyConditions(t *testing.T) {
	vm := &vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", Generation: 4, ResourceVersion: "77"},
		Spec:       vmv1.VirtualMachineSpec{NodeName: "n1"},
		Status:     running(),
	}
	data, err := json.Marshal(newStatusApply(vm, []metav1.Condition{{Type: ready, Status: "True", Reason: vmv1.ReasonReady, LastTransitionTime: metav1.NewTime(t0)}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, k := range []string{"metadata", "status"} {
		m := map[string]any{}
		if err := json.Unmarshal(top[k], &m); err != nil {
			t.Fatal(err)
		}
		got[k] = m
	}
	if keys := sortedKeys(top); strings.Join(keys, ",") != "apiVersion,kind,metadata,status" {
		t.Errorf("top-level fields %v: no spec may be sent", keys)
	}
	if keys := sortedKeys(got["status"]); strings.Join(keys, ",") != "conditions,observedGeneration" {
		t.Errorf("status fields %v: only conditions and observedGeneration may be sent", keys)
	}
	if got["metadata"]["resourceVersion"] != "77" {
		t.Errorf("the apply must be conditional on the version it was computed from: %v", got["metadata"])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
