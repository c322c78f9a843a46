package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

func TestUrgentChange(t *testing.T) {
	now := metav1.NewMicroTime(time.Now())
	base := func() *vmv1.VirtualMachine {
		vm := &vmv1.VirtualMachine{}
		vm.Generation = 1
		vm.Status.RunState = vmv1.RunStateRunning
		vm.Status.EventCounts = map[string]int64{"RTC_CHANGE": 3}
		vm.Status.Monitor = &vmv1.MonitorStatus{State: vmv1.MonitorConnected, Connected: true}
		vm.Status.BlockErrors = []vmv1.BlockError{{Device: "disk9", Action: "report", Count: 1}}
		return vm
	}
	for _, tc := range []struct {
		name   string
		change func(vm *vmv1.VirtualMachine)
		want   bool
	}{
		{"a counter", func(vm *vmv1.VirtualMachine) { vm.Status.EventCounts["RTC_CHANGE"]++ }, false},
		{"delivery", func(vm *vmv1.VirtualMachine) { vm.Status.Delivery = &vmv1.DeliveryStatus{Coalesced: 2} }, false},
		{"the RTC offset", func(vm *vmv1.VirtualMachine) { vm.Status.RTCOffsetSeconds = new(int64) }, false},
		{"the monitor's last event time", func(vm *vmv1.VirtualMachine) { vm.Status.Monitor.LastEventTime = &now }, false},
		{"the controller's conditions", func(vm *vmv1.VirtualMachine) {
			vm.Status.Conditions = []metav1.Condition{{Type: string(vmv1.ConditionGuestPanicked), Status: metav1.ConditionTrue}}
			vm.Status.ObservedGeneration = 1
		}, false},
		{"a panic", func(vm *vmv1.VirtualMachine) { vm.Status.LastPanic = &vmv1.PanicInfo{Time: now, Action: "pause"} }, true},
		{"a watchdog", func(vm *vmv1.VirtualMachine) { vm.Status.LastWatchdog = &vmv1.WatchdogInfo{Time: now, Action: "pause"} }, true},
		{"the run state", func(vm *vmv1.VirtualMachine) { vm.Status.RunState = vmv1.RunStatePaused }, true},
		{"a block error on another device", func(vm *vmv1.VirtualMachine) {
			vm.Status.BlockErrors = append(vm.Status.BlockErrors, vmv1.BlockError{Device: "disk0", Count: 1})
		}, true},
		{"more of a device's block errors", func(vm *vmv1.VirtualMachine) {
			vm.Status.BlockErrors[0].Count, vm.Status.BlockErrors[0].LastTime = 7, &now
		}, false},
		{"another block error action", func(vm *vmv1.VirtualMachine) { vm.Status.BlockErrors[0].Action = "stop" }, true},
		{"the monitor's state", func(vm *vmv1.VirtualMachine) { vm.Status.Monitor.State = vmv1.MonitorDisconnected }, true},
		{"a reset (ends a panic)", func(vm *vmv1.VirtualMachine) { vm.Status.LastReset = &vmv1.ResetInfo{Time: now} }, true},
		{"the spec", func(vm *vmv1.VirtualMachine) { vm.Generation++ }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, updated := base(), base()
			tc.change(updated)
			if got := urgentChange(old, updated); got != tc.want {
				t.Errorf("urgentChange = %v, want %v", got, tc.want)
			}
		})
	}
}
