package qmpagent

import (
	"slices"
	"testing"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// What becomes an Event, by the agent's default and a VM's policy.
func TestSilences(t *testing.T) {
	rtc := model.Occurrence{Action: "RTC_CHANGE", Reason: "RTCChange"}
	job := model.Occurrence{Action: "JOB_STATUS_CHANGE", Reason: "JobStatusChange"}
	reset := model.Occurrence{Action: "RESET", Reason: "Reset"}
	watchdog := model.Occurrence{Action: "WATCHDOG", Reason: "Watchdog", Warning: true}
	lxdFailed := model.Occurrence{Action: "operation-failed", Reason: "OperationFailed", Warning: true}
	lxdUpdated := model.Occurrence{Action: "instance-updated", Reason: "InstanceUpdated"}
	startFailed := model.Occurrence{Action: "libvirt-start", Reason: "LibvirtStart", Warning: true}
	for _, tc := range []struct {
		name     string
		defaults []string
		policy   *vmv1.EventPolicy
		occ      model.Occurrence
		want     bool
	}{
		{name: "the default silences its names", defaults: DefaultSilenceEvents, occ: rtc, want: true},
		{name: "the default lets the rest through", defaults: DefaultSilenceEvents, occ: reset, want: false},
		{name: "an empty default silences nothing", defaults: nil, occ: rtc, want: false},
		{name: "the default matches by reason too", defaults: []string{"RTCChange"}, occ: rtc, want: true},
		{name: "names match case aside (the API's RtcChange)", defaults: []string{"RtcChange"}, occ: rtc, want: true},
		{name: "the default never silences a fault", defaults: []string{"WATCHDOG", "operation-failed"}, occ: watchdog, want: false},
		{name: "the default never silences an LXD fault", defaults: []string{"operation-failed"}, occ: lxdFailed, want: false},
		{name: "a VM's silence adds to the default", defaults: DefaultSilenceEvents,
			policy: &vmv1.EventPolicy{Silence: []string{"RESET"}}, occ: reset, want: true},
		{name: "a VM's silence silences a fault", defaults: DefaultSilenceEvents,
			policy: &vmv1.EventPolicy{Silence: []string{"Watchdog"}}, occ: watchdog, want: true},
		{name: "a VM's silence names an LXD action", policy: &vmv1.EventPolicy{Silence: []string{"instance-updated"}}, occ: lxdUpdated, want: true},
		{name: "a VM's silence names a libvirt audit action", policy: &vmv1.EventPolicy{Silence: []string{"libvirt-start"}}, occ: startFailed, want: true},
		{name: "the default never silences a libvirt fault", defaults: []string{"LibvirtStart"}, occ: startFailed, want: false},
		{name: "a VM's keep wins over the default", defaults: DefaultSilenceEvents,
			policy: &vmv1.EventPolicy{Keep: []string{"RTC_CHANGE"}}, occ: rtc, want: false},
		{name: "a VM's keep of one name leaves the default's others", defaults: DefaultSilenceEvents,
			policy: &vmv1.EventPolicy{Keep: []string{"RTC_CHANGE"}}, occ: job, want: true},
		{name: "a VM's silence wins over its keep", defaults: nil,
			policy: &vmv1.EventPolicy{Silence: []string{"RTCChange"}, Keep: []string{"RTC_CHANGE"}}, occ: rtc, want: true},
		{name: "types Warning silences the Normal", policy: &vmv1.EventPolicy{Types: []string{"Warning"}}, occ: reset, want: true},
		{name: "types Warning keeps faults", policy: &vmv1.EventPolicy{Types: []string{"Warning"}}, occ: watchdog, want: false},
		{name: "types filter before keep", policy: &vmv1.EventPolicy{Types: []string{"Warning"}, Keep: []string{"RESET"}}, occ: reset, want: true},
		{name: "types Normal silences faults", policy: &vmv1.EventPolicy{Types: []string{"Normal"}}, occ: watchdog, want: true},
		{name: "no types: both", policy: &vmv1.EventPolicy{}, occ: watchdog, want: false},
		{name: "an empty policy leaves the default", defaults: DefaultSilenceEvents, policy: &vmv1.EventPolicy{}, occ: rtc, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Silences(tc.defaults, tc.policy, tc.occ); got != tc.want {
				t.Errorf("Silences(%v, %+v, %s/%s) = %v, want %v", tc.defaults, tc.policy, tc.occ.Action, tc.occ.Reason, got, tc.want)
			}
		})
	}
}

// The default lets every fault the QMP mapping can produce through, and
// silences nothing but its own names: every event this agent knows (the
// seeds' catalogues among them) is applied as the agent applies it.
func TestDefaultSilencesNoFault(t *testing.T) {
	var faults []string
	for _, name := range qmp.KnownEvents() {
		var f model.Facts
		occ := model.ApplyQMP(&f, qmp.Event{Name: name}, time.Now()).Occurrence
		if occ.Warning {
			faults = append(faults, name)
		}
		want := !occ.Warning && slices.Contains(DefaultSilenceEvents, name)
		if got := Silences(DefaultSilenceEvents, nil, occ); got != want {
			t.Errorf("%s (warning %v): silenced %v by the default, want %v", name, occ.Warning, got, want)
		}
	}
	// The faults of the catalogues: a loop that met none would prove nothing.
	for _, name := range []string{qmp.EventGuestPanicked, qmp.EventGuestCrashloaded, qmp.EventWatchdog, qmp.EventBlockIOError,
		qmp.EventQuorumFailure, qmp.EventQuorumReportBad, qmp.EventMemoryFailure, qmp.EventBlockImageCorrupted,
		qmp.EventBlockJobError, qmp.EventDeviceUnplugGuestError} {
		if !slices.Contains(faults, name) {
			t.Errorf("%s is not among the Warning occurrences the QMP mapping produced: %v", name, faults)
		}
	}
}
