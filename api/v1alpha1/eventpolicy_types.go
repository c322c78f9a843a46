package v1alpha1

// EventPolicy says which of a VM's occurrences become Kubernetes Events.
// Whatever it silences is still counted in status.eventCounts and, as
// silenced, in status.delivery.silenced and the agent's
// vmevents_agent_events_silenced_total metric: never lost without a trace.
//
// The agent has a cluster-wide default (its --silence-events flag: by
// default the occurrences that are noise by nature, RTC_CHANGE,
// BALLOON_CHANGE and JOB_STATUS_CHANGE). A VM's policy adds to it (silence)
// or takes from it (keep). The default never silences a fault (a Warning
// occurrence); only a VM's own silence list can.
type EventPolicy struct {
	// Silence names occurrences that do not become Events: a QMP event
	// name (RTC_CHANGE), an LXD lifecycle or operation action
	// (instance-updated), a libvirt action (libvirt-start), or the Event
	// reason the agent gives any of them (RTCChange); case does not matter.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:MinLength=1
	Silence []string `json:"silence,omitempty"`

	// Keep names occurrences that become Events even though the agent's
	// cluster-wide default silences them. Keep wins over the default, and
	// Silence wins over Keep.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:MinLength=1
	Keep []string `json:"keep,omitempty"`

	// Types are the Event types that become Events at all: Normal and
	// Warning (the default, both). [Warning] leaves only faults.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:Enum=Normal;Warning
	Types []string `json:"types,omitempty"`
}
