package qmpagent

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vmevents/vmevents/qmpagent/publish/publishtest"
)

func TestDiscoveredName(t *testing.T) {
	dns := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	for _, tc := range []struct{ qemuName, path, prefix string }{
		{"web-1", "/var/run/vmevents/a.qmp", "web-1-"},
		{"", "/var/run/vmevents/Build_Box.qmp", "build-box-"},
		{"Ünïcode VM!", "/x.qmp", "n-code-vm-"},
		{"---", "/var/run/vmevents/.qmp", "vm-"},
		{strings.Repeat("a", 300), "/x.qmp", strings.Repeat("a", 54) + "-"},
	} {
		got := DiscoveredName(tc.qemuName, tc.path, "node-1")
		if !strings.HasPrefix(got, tc.prefix) || len(got) > 63 || !dns.MatchString(got) {
			t.Errorf("DiscoveredName(%q, %q) = %q, want a DNS-1123 label starting %q", tc.qemuName, tc.path, got, tc.prefix)
		}
	}
	if DiscoveredName("vm", "/a.qmp", "n1") == DiscoveredName("vm", "/a.qmp", "n2") {
		t.Error("the same QEMU name on two nodes gives the same VirtualMachine name")
	}
}

// The sources' unit tests stand the Recorder in for the agent.
var _ Publisher = (*publishtest.Recorder)(nil)
