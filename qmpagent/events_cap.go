package qmpagent

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// MaxSeriesPerObject caps the Event series of one type (Normal or Warning)
// open at once for one object. Each distinct occurrence (another disk,
// another _OST status...) opens a series kept for SeriesWindow: a guest
// writing distinct values in a loop would otherwise grow the agent's memory
// and its API writes without end. Past the cap, an object's occurrences are
// counted in one EventsSuppressed series of their type. Each type has its
// own cap so that a flood of Normal occurrences (a guest's _OST writes)
// never takes the room of a fault: a later guest panic still gets its own
// Warning Event.
const MaxSeriesPerObject = 256

// SuppressedReason is the reason of an object's series that counts the
// occurrences past MaxSeriesPerObject.
const SuppressedReason = "EventsSuppressed"

// objectKey identifies the object an Event is about.
func objectKey(regarding corev1.ObjectReference) string {
	return string(regarding.UID) + "/" + regarding.Namespace + "/" + regarding.Name
}

// capKey is what MaxSeriesPerObject counts by: an object and an Event type.
func capKey(object string, warning bool) string {
	if warning {
		return object + "/" + corev1.EventTypeWarning
	}
	return object + "/" + corev1.EventTypeNormal
}

// seriesKey identifies the series an occurrence about object joins.
func seriesKey(object string, occ model.Occurrence) string {
	return object + "/" + occ.EventType() + "/" + occ.Reason + "/" + occ.Series
}

// suppressedOccurrence is what occ becomes past its object's cap: an
// occurrence of the object's EventsSuppressed series of occ's type. The
// first one's note says what it stood for; the series count is exact.
func suppressedOccurrence(occ model.Occurrence) model.Occurrence {
	note := fmt.Sprintf("More than %d Event series are open for this object; occurrences past that are counted in this series (the first: %s: %s)",
		MaxSeriesPerObject, occ.Reason, occ.Note)
	return model.Occurrence{
		Time: occ.Time, Action: occ.Action, Reason: SuppressedReason, Warning: occ.Warning,
		Note: model.Clean(note, model.MaxNoteBytes), Repeat: occ.Repeat,
	}
}
