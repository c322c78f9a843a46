package qmpagent

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/test/framework/logtest"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// occurrenceKeys are the keys docs/logging.md documents for an occurrence
// line, besides zap's own (level, ts, logger, msg).
var occurrenceKeys = []string{"vm", "namespace", "kind", "node", "source", "reason", "type", "action", "qemuTime", "repeat", "coalesced", "silenced", "data"}

func TestOccurrenceLines(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.FixedZone("CET", 3600))
	vm := corev1.ObjectReference{Kind: "VirtualMachine", Namespace: "prod", Name: "web-1"}
	node := corev1.ObjectReference{Kind: "Node", Name: "node-a"}
	cases := []struct {
		name      string
		regarding corev1.ObjectReference
		occ       model.Occurrence
		coalesced bool
		silenced  bool
		want      map[string]any
	}{{
		name:      "a guest panic",
		regarding: vm,
		occ:       model.Occurrence{Time: at, Action: "GUEST_PANICKED", Reason: "GuestPanicked", Warning: true, Note: "guest panicked (action pause)"},
		want: map[string]any{"vm": "web-1", "namespace": "prod", "kind": "VirtualMachine", "node": "node-a", "source": "qmp",
			"reason": "GuestPanicked", "type": "Warning", "action": "GUEST_PANICKED", "qemuTime": "2026-03-04T04:06:07.891011Z",
			"repeat": float64(1), "coalesced": false, "silenced": false, "data": "guest panicked (action pause)"},
	}, {
		name:      "a run of shed occurrences folded into a series",
		regarding: vm,
		occ:       model.Occurrence{Time: at, Action: "RTC_CHANGE", Reason: "RtcChange", Repeat: 40, Note: "clock set"},
		coalesced: true,
		want:      map[string]any{"type": "Normal", "repeat": float64(40), "coalesced": true},
	}, {
		name:      "a run silenced by the event policy: logged all the same",
		regarding: vm,
		occ:       model.Occurrence{Time: at, Action: "RTC_CHANGE", Reason: "RTCChange", Repeat: 3, Note: "clock set"},
		silenced:  true,
		want:      map[string]any{"reason": "RTCChange", "repeat": float64(3), "coalesced": false, "silenced": true},
	}, {
		name:      "about the node: no VM",
		regarding: node,
		occ:       model.Occurrence{Time: at, Action: "lost", Reason: "MonitorLost", Warning: true},
		want:      map[string]any{"vm": "", "namespace": "", "kind": "Node", "data": ""},
	}, {
		name:      "a hostile note is cleaned and bounded",
		regarding: vm,
		occ:       model.Occurrence{Time: at, Reason: "X", Note: "a\x1b[2Jb\u202e" + strings.Repeat("z", 3000)},
		want:      map[string]any{"data": model.Clean("a\x1b[2Jb\u202e"+strings.Repeat("z", 3000), model.MaxNoteBytes)},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, buf := logtest.Capture()
			logOccurrence(log.WithName(IncidentLogger), "node-a", tc.regarding, tc.occ, "qmp", tc.coalesced, tc.silenced)
			line := logtest.One(t, buf, IncidentLogger, OccurrenceMessage, occurrenceKeys, tc.want)
			if d := line["data"].(string); len(d) > model.MaxNoteBytes || strings.ContainsAny(d, "\x1b\u202e") {
				t.Errorf("data not bounded and clean: %q", d)
			}
		})
	}
}

// TestOccurrenceKeysAreDocumented: every key a line has is in docs/logging.md.
func TestOccurrenceKeysAreDocumented(t *testing.T) {
	logtest.Documented(t, testenv.RepoRoot(), append(occurrenceKeys, IncidentLogger, OccurrenceMessage)...)
}
