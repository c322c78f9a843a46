package qmpagent

import (
	"slices"
	"strings"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// DefaultSilenceEvents are the occurrences that are noise by nature and
// become no Event unless a VM keeps them (spec.eventPolicy.keep): a guest's
// NTP stepping its clock, a balloon driver resizing, every step of a block
// job. They are still counted (status.eventCounts, delivery.silenced). The
// agent's --silence-events default.
var DefaultSilenceEvents = []string{"RTC_CHANGE", "BALLOON_CHANGE", "JOB_STATUS_CHANGE"}

// Silences reports whether occ becomes no Event, under the agent's default
// silence list and a VM's policy (nil for an occurrence about the node, or
// a VM without one). A name matches the occurrence's Action (the QMP event
// name, LXD action, libvirt audit kind or action) or its Reason, case
// aside (RTC_CHANGE, RTCChange and RtcChange are one). The policy's types
// filter first; then its silence list wins over its keep list, which wins
// over the default; and the default never silences a fault (a Warning).
func Silences(defaults []string, policy *vmv1.EventPolicy, occ model.Occurrence) bool {
	if policy != nil {
		if len(policy.Types) > 0 && !slices.Contains(policy.Types, occ.EventType()) {
			return true
		}
		if names(policy.Silence, occ) {
			return true
		}
		if names(policy.Keep, occ) {
			return false
		}
	}
	return !occ.Warning && names(defaults, occ)
}

// names reports whether one of list names occ.
func names(list []string, occ model.Occurrence) bool {
	for _, n := range list {
		if n != "" && (strings.EqualFold(n, occ.Action) || strings.EqualFold(n, occ.Reason)) {
			return true
		}
	}
	return false
}
