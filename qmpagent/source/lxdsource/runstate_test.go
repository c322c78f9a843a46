package lxdsource

import (
	"testing"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

func TestRunStateOf(t *testing.T) {
	for status, want := range map[string]vmv1.RunState{
		"Running": vmv1.RunStateRunning, "Thawed": vmv1.RunStateRunning,
		"Frozen": vmv1.RunStatePaused, "Freezing": vmv1.RunStatePaused,
		"Stopped": vmv1.RunStateShutdown, "Stopping": vmv1.RunStateShutdown,
		"Error": vmv1.RunStateCrashed, "Aborting": vmv1.RunStateCrashed,
		"Migrating": vmv1.RunStateUnknown, "": vmv1.RunStateUnknown,
	} {
		if got := RunStateOf(status); got != want {
			t.Errorf("RunStateOf(%q) = %s, want %s", status, got, want)
		}
	}
}
