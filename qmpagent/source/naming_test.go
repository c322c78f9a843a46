package source

import (
	"regexp"
	"strings"
	"testing"
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

func TestValidUUID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20", true},
		{"5F0C3A3E-8D1B-4C55-9A4E-2B7F6C1D9E20", true},
		{"00000000-0000-0000-0000-000000000000", false},
		{"5f0c3a3e8d1b4c559a4e2b7f6c1d9e20", false},
		{"5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e2", false},
		{"5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e2g", false},
		{"", false},
	} {
		if got := ValidUUID(tc.in); got != tc.want {
			t.Errorf("ValidUUID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
