package libvirtsource

import (
	"testing"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// runState reads virDomainState and its reason as libvirt numbers them
// (include/libvirt/libvirt-domain.h).
func TestRunState(t *testing.T) {
	for _, tc := range []struct {
		state, reason int32
		want          vmv1.RunState
		why           string
	}{
		{1, 1, vmv1.RunStateRunning, "running"},
		{3, 0, vmv1.RunStatePaused, "unknown"}, // not the operator's pause
		{3, 1, vmv1.RunStatePaused, "paused"},
		{3, 2, vmv1.RunStatePaused, "migrate"},
		{3, 5, vmv1.RunStatePaused, "io-error"},
		{3, 6, vmv1.RunStatePaused, "watchdog"},
		{3, 14, vmv1.RunStatePaused, "api-error"},
		{3, 99, vmv1.RunStatePaused, "unknown"}, // a newer libvirt's reason
		{5, 0, vmv1.RunStateShutdown, "shutoff"},
		{6, 0, vmv1.RunStateCrashed, "crashed"},
		{7, 0, vmv1.RunStateSuspended, "pmsuspended"},
		{0, 0, "", ""},
	} {
		got, why := runState(tc.state, tc.reason)
		if got != tc.want || why != tc.why {
			t.Errorf("runState(%d, %d) = %q/%q, want %q/%q", tc.state, tc.reason, got, why, tc.want, tc.why)
		}
	}
}
