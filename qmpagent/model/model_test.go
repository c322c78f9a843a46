package model

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestReasonFor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SHUTDOWN", "Shutdown"},
		{"GUEST_PANICKED", "GuestPanicked"},
		{"BLOCK_IO_ERROR", "BlockIOError"},
		{"RTC_CHANGE", "RTCChange"},
		{"VNC_CONNECTED", "VNCConnected"},
		{"SPICE_INITIALIZED", "SPICEInitialized"},
		{"ACPI_DEVICE_OST", "ACPIDeviceOST"},
		{"QUORUM_REPORT_BAD", "QuorumReportBad"},
		{"NIC_RX_FILTER_CHANGED", "NICRXFilterChanged"},
		{"GUEST_PVSHUTDOWN", "GuestPvshutdown"},
		{"instance-started", "InstanceStarted"},
		{"network-acl-created", "NetworkACLCreated"},
		{"", ""},
	} {
		if got := ReasonFor(tc.in); got != tc.want {
			t.Errorf("ReasonFor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "disk0", 16, "disk0"},
		{"control characters", "a\x1b[31mb\nc\x00", 32, "a?[31mb?c?"},
		{"invalid utf-8", "a\xffb", 16, "a?b"},
		{"bidirectional override", "evil\u202egpj.exe", 32, "evil?gpj.exe"},
		{"zero-width and BOM", "a\u200bb\ufeffc", 16, "a?b?c"},
		{"cut", strings.Repeat("x", 20), 10, "xxxxxxx..."},
		{"exactly max", strings.Repeat("x", 10), 10, strings.Repeat("x", 10)},
		{"cut on a rune boundary", strings.Repeat("é", 10), 8, "éé..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clean(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if len(got) > tc.max || !utf8.ValidString(got) {
				t.Errorf("Clean(%q) = %q: over %d bytes or invalid UTF-8", tc.in, got, tc.max)
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	f.Add("a\x00b\xff", 8)
	f.Add(strings.Repeat("é", 40), 13)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 4 || max > 4096 {
			return
		}
		got := Clean(s, max)
		if len(got) > max || !utf8.ValidString(got) {
			t.Fatalf("Clean(%q, %d) = %q", s, max, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("control or format character left in %q", got)
			}
		}
	})
}
