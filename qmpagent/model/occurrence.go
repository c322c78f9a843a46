package model

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Occurrence is one thing that happened to a VM, to be told as a Kubernetes
// Event.
type Occurrence struct {
	// Time is when it happened, by the hypervisor's clock when it gave one.
	Time time.Time
	// Action is the source's own name for it, e.g. the QMP event name.
	Action string
	// Reason is Action in CamelCase (GuestPanicked, BlockIOError).
	Reason string
	// Warning marks faults; the rest are Normal.
	Warning bool
	// Note says what happened in plain words.
	Note string
	// Repeat is how many occurrences this one stands for: 1 (or 0) normally,
	// more when it is the last of a run of events the agent could not
	// handle one by one, so that Event series counts stay exact.
	Repeat int64
	// Series tells apart occurrences that share Action and Reason but must
	// not be folded into one Event series: another disk, another action.
	Series string
}

// MaxNoteBytes bounds a note; the Events API refuses notes over 1 KiB.
const MaxNoteBytes = 1024

// MaxFieldBytes bounds one value quoted from the guest or the network.
const MaxFieldBytes = 256

// Clean makes a string from the guest, the network or a file safe to show:
// invalid UTF-8, control characters and Unicode format characters (the
// bidirectional overrides such as U+202E, zero-width characters, which can
// make `kubectl describe` print something other than what was sent) become
// '?', and it is cut to max bytes (on a rune boundary) with "..." marking
// the cut.
func Clean(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				r = '?'
			}
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= max {
		return out
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + "..."
}

// acronyms stay upper-case in reasons: BLOCK_IO_ERROR is BlockIOError.
var acronyms = map[string]bool{
	"ACPI": true, "OST": true, "IO": true, "RTC": true, "VNC": true, "SPICE": true,
	"NIC": true, "RX": true, "PV": true, "CPU": true, "VCPU": true, "MTU": true,
	"UUID": true, "ID": true, "TPM": true, "USB": true, "VM": true, "COLO": true,
	"VFU": true, "HV": true, "NMI": true,
	// LXD: network-acl-created is NetworkACLCreated.
	"ACL": true,
}

// ReasonFor turns a source's event name (SHUTDOWN, BLOCK_IO_ERROR,
// instance-started) into a Kubernetes reason (Shutdown, BlockIOError,
// InstanceStarted), keeping acronyms.
func ReasonFor(name string) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == '.' || r == ' ' }) {
		upper := strings.ToUpper(word)
		if acronyms[upper] {
			b.WriteString(upper)
			continue
		}
		lower := strings.ToLower(word)
		r, size := utf8.DecodeRuneInString(lower)
		b.WriteRune(unicode.ToUpper(r))
		b.WriteString(lower[size:])
	}
	return b.String()
}

// EventType is the Kubernetes Event type of the occurrence.
func (o Occurrence) EventType() string {
	if o.Warning {
		return "Warning"
	}
	return "Normal"
}
