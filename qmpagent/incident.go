package qmpagent

import (
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// IncidentLogger is the logger name of the incident history: one line per
// occurrence published, with the keys docs/logging.md lists. An Event
// lives an hour (the apiserver's --event-ttl); these lines live as long as
// the cluster's log pipeline keeps them.
const IncidentLogger = "incident"

// OccurrenceMessage is the message of every occurrence line.
const OccurrenceMessage = "occurrence"

// incidentLog is where Agent.Publish writes the lines; the manager's
// logger, so the binary's -zap-* flags (JSON in production) apply.
var incidentLog = ctrl.Log.WithName(IncidentLogger)

// logOccurrence writes one line for occ about regarding, as read from
// source on node. Occurrences are logged as they are published, before the
// Event series fold them: one line per occurrence, or per run of shed ones
// (repeat says how many it stands for), so that the repeats of an object's
// lines with one reason add up to its Events' counts (those silenced by
// the event policy aside: they are logged too, marked silenced, so that
// the history is whole). The note was cleaned
// and bounded by the source (model.Clean); it is bounded again here because
// a log line must not grow with what a guest writes.
func logOccurrence(log logr.Logger, node string, regarding corev1.ObjectReference, occ model.Occurrence, source string, coalesced, silenced bool) {
	vm := ""
	if regarding.Kind != "Node" {
		vm = regarding.Name
	}
	log.Info(OccurrenceMessage,
		"vm", vm,
		"namespace", regarding.Namespace,
		"kind", regarding.Kind,
		"node", node,
		"source", source,
		"reason", occ.Reason,
		"type", occ.EventType(),
		"action", occ.Action,
		"qemuTime", occ.Time.UTC().Format(time.RFC3339Nano),
		"repeat", max(1, occ.Repeat),
		"coalesced", coalesced,
		"silenced", silenced,
		"data", model.Clean(occ.Note, model.MaxNoteBytes),
	)
}
