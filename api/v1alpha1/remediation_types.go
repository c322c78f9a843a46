package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Remediation: the controller decides, the node agent acts.
//
// A VM whose spec.remediation names an action for a fault condition is
// acted on when that condition is True: the controller writes a request
// (status.remediation.request, numbered), the agent on the VM's node, which
// alone holds the VM's monitor, carries it out at most once (it first
// records in status.remediation.execution that it took the request up, then
// acts, then reports the result) and the controller records the outcome as
// an attempt. docs/remediation.md tells the whole protocol.

// RemediationAction is what to do about a fault.
// +kubebuilder:validation:Enum=None;Reset;Resume;PowerCycle
type RemediationAction string

// Remediation actions.
const (
	// RemediationNone: do nothing (the default).
	RemediationNone RemediationAction = "None"
	// RemediationReset: a hard reset of the guest, then let it run: QMP
	// system_reset and cont, libvirt's reset and resume, LXD's forced
	// restart.
	RemediationReset RemediationAction = "Reset"
	// RemediationResume: let a paused guest run again (QMP cont, libvirt's
	// resume, LXD's unfreeze); for a VM paused on an I/O error once the
	// cause (a full disk) is gone. If it is not, the guest pauses again and
	// the next attempt waits for the backoff.
	RemediationResume RemediationAction = "Resume"
	// RemediationPowerCycle: power the guest off and start it again: a
	// fresh hypervisor process where the manager can make one (libvirt's
	// destroy and create, LXD's forced stop and start). A QEMU followed
	// over QMP alone has no manager to restart it: the agent reports the
	// action as not supported there.
	RemediationPowerCycle RemediationAction = "PowerCycle"
)

// RemediationSpec says what the controller has the node agent do when a
// fault condition is True. Nothing is done unless an action is named.
//
// +kubebuilder:validation:XValidation:rule="!has(self.backoffSeconds) || !has(self.maxBackoffSeconds) || self.backoffSeconds <= self.maxBackoffSeconds",message="backoffSeconds must not be more than maxBackoffSeconds"
type RemediationSpec struct {
	// GuestPanicked is done while the GuestPanicked condition is True:
	// None, Reset or PowerCycle (a panicked guest cannot just resume).
	// +optional
	// +kubebuilder:default=None
	// +kubebuilder:validation:XValidation:rule="self != 'Resume'",message="guestPanicked cannot be Resume: a panicked guest must be reset or power-cycled"
	GuestPanicked RemediationAction `json:"guestPanicked,omitempty"`

	// WatchdogExpired is done while the WatchdogExpired condition is True:
	// None, Reset or PowerCycle (the guest stopped kicking its watchdog;
	// resuming it would not revive it).
	// +optional
	// +kubebuilder:default=None
	// +kubebuilder:validation:XValidation:rule="self != 'Resume'",message="watchdogExpired cannot be Resume: a hung guest must be reset or power-cycled"
	WatchdogExpired RemediationAction `json:"watchdogExpired,omitempty"`

	// IOError is done while the IOError condition is True because the VM
	// is paused on the error (reason PausedOnError): None, Resume (once the
	// disk has space again), Reset or PowerCycle.
	// +optional
	// +kubebuilder:default=None
	IOError RemediationAction `json:"ioError,omitempty"`

	// DelaySeconds is how long a fault condition must have been True
	// before the first attempt: time for a person, or the guest's own
	// crash kernel, to act first.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	DelaySeconds *int32 `json:"delaySeconds,omitempty"`

	// BackoffSeconds is the least time between two attempts. It doubles
	// with each attempt in the window, up to MaxBackoffSeconds.
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	BackoffSeconds int32 `json:"backoffSeconds,omitempty"`

	// MaxBackoffSeconds caps the time between two attempts.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	MaxBackoffSeconds int32 `json:"maxBackoffSeconds,omitempty"`

	// MaxAttempts is how many attempts may be made within WindowSeconds.
	// When they are spent and a fault is still True, the controller gives
	// up: RemediationExhausted goes True and nothing more is tried until
	// attempts leave the window.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// WindowSeconds is the sliding window MaxAttempts counts in.
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=604800
	WindowSeconds int32 `json:"windowSeconds,omitempty"`

	// DryRun records what would be done, as an attempt with result DryRun
	// and an Event, once per fault, and does nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// RemediationStatus is the remediation's record. The controller owns
// request, attempts and totalAttempts; the node agent owns execution.
type RemediationStatus struct {
	// Request is what the controller asks the node agent to do now. It
	// stays until the controller records its outcome in attempts.
	// +optional
	Request *RemediationRequest `json:"request,omitempty"`

	// Attempts are the attempts made within the window, oldest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Attempts []RemediationAttempt `json:"attempts,omitempty"`

	// TotalAttempts counts every attempt ever made; request and attempt
	// IDs are taken from it.
	// +optional
	TotalAttempts int64 `json:"totalAttempts,omitempty"`

	// Execution is the node agent's report on the last request it took
	// up. The agent takes up each request ID at most once.
	// +optional
	Execution *RemediationExecution `json:"execution,omitempty"`
}

// RemediationRequest is one action the controller asks for.
type RemediationRequest struct {
	// ID numbers the request; it is the attempt's ID.
	// +kubebuilder:validation:Minimum=1
	ID int64 `json:"id"`
	// Action is what to do.
	Action RemediationAction `json:"action"`
	// Condition is the fault condition type that asked for it
	// (GuestPanicked, WatchdogExpired or IOError).
	// +kubebuilder:validation:MaxLength=64
	Condition string `json:"condition"`
	// Fault identifies the fault acted on (the condition and when the
	// fault happened), so that one fault is never acted on twice.
	// +kubebuilder:validation:MaxLength=128
	Fault string `json:"fault"`
	// RequestedAt is when the controller made the request.
	RequestedAt metav1.MicroTime `json:"requestedAt"`
}

// RemediationResult is the outcome of an attempt.
// +kubebuilder:validation:Enum=Pending;Succeeded;Failed;Unknown;Expired;DryRun
type RemediationResult string

// Remediation results.
const (
	// RemediationPending: requested, not carried out yet.
	RemediationPending RemediationResult = "Pending"
	// RemediationSucceeded: the hypervisor accepted the action.
	RemediationSucceeded RemediationResult = "Succeeded"
	// RemediationFailed: the action was refused or could not be sent; the
	// message says why.
	RemediationFailed RemediationResult = "Failed"
	// RemediationUnknown: the agent stopped after taking the request up and
	// before reporting; it is not carried out again.
	RemediationUnknown RemediationResult = "Unknown"
	// RemediationExpired: no agent took the request up in time; it was
	// not carried out.
	RemediationExpired RemediationResult = "Expired"
	// RemediationDryRunResult: the remediation is a dry run; nothing was
	// done.
	RemediationDryRunResult RemediationResult = "DryRun"
)

// RemediationAttempt is one attempt and its outcome.
type RemediationAttempt struct {
	// ID numbers the attempt.
	// +kubebuilder:validation:Minimum=1
	ID int64 `json:"id"`
	// Action is what was asked for.
	Action RemediationAction `json:"action"`
	// Condition is the fault condition type that asked for it.
	// +kubebuilder:validation:MaxLength=64
	Condition string `json:"condition"`
	// Fault identifies the fault acted on.
	// +kubebuilder:validation:MaxLength=128
	Fault string `json:"fault"`
	// RequestedAt is when the attempt was requested.
	RequestedAt metav1.MicroTime `json:"requestedAt"`
	// Result is the outcome.
	Result RemediationResult `json:"result"`
	// FinishedAt is when the outcome was known.
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
	// Message says what happened, in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// ExecutionPhase is where the node agent is with a request.
// +kubebuilder:validation:Enum=Executing;Succeeded;Failed;Unknown;Expired
type ExecutionPhase string

// Execution phases.
const (
	// ExecutionExecuting: the agent took the request up and is acting. An
	// agent that finds its own Executing after a restart reports Unknown,
	// never acts again.
	ExecutionExecuting ExecutionPhase = "Executing"
	// ExecutionSucceeded: the hypervisor accepted the action.
	ExecutionSucceeded ExecutionPhase = "Succeeded"
	// ExecutionFailed: the action failed or is not supported by the VM's
	// source; the message says why.
	ExecutionFailed ExecutionPhase = "Failed"
	// ExecutionUnknown: the agent restarted while executing.
	ExecutionUnknown ExecutionPhase = "Unknown"
	// ExecutionExpired: the request was older than the agent accepts; not
	// carried out.
	ExecutionExpired ExecutionPhase = "Expired"
)

// RemediationExecution is the node agent's report on one request.
type RemediationExecution struct {
	// RequestID is the request reported on.
	// +kubebuilder:validation:Minimum=1
	RequestID int64 `json:"requestID"`
	// Phase is where the agent is with it.
	Phase ExecutionPhase `json:"phase"`
	// StartedAt is when the agent took the request up.
	StartedAt metav1.MicroTime `json:"startedAt"`
	// FinishedAt is when the agent knew the outcome.
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
	// Source is the event source the action went through: qmp, libvirt or lxd.
	// +optional
	// +kubebuilder:validation:Enum=qmp;libvirt;lxd
	Source string `json:"source,omitempty"`
	// Message says what happened, in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}
