package main

import (
	"os"
	"strings"
	"testing"
)

// The controller leads under its pod's name, so a restarted container
// finds the Lease its own; outside a pod every start is a new identity.
func TestLeaderIdentity(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pod  string
		wantPrefix string
		fixed      bool
	}{
		{name: "in a pod", pod: "vmevents-controller-7d9f-abcde", wantPrefix: "vmevents-controller-7d9f-abcde", fixed: true},
		{name: "outside a pod", pod: "", wantPrefix: host + "_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAME", tc.pod)
			first, err := leaderIdentity()
			if err != nil {
				t.Fatal(err)
			}
			again, err := leaderIdentity()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(first, tc.wantPrefix) {
				t.Errorf("identity %q, want it to start with %q", first, tc.wantPrefix)
			}
			if (first == again) != tc.fixed {
				t.Errorf("identities %q and %q: the same across starts is %v, want %v", first, again, first == again, tc.fixed)
			}
		})
	}
}
