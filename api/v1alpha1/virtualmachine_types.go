package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineSpec says where a virtual machine runs and which of the
// hypervisor's event streams describe it. The agent on spec.nodeName watches
// every source that is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.qmp) || has(self.libvirt) || has(self.lxd)",message="at least one event source must be set: spec.qmp.socketPath, spec.libvirt.domain or spec.lxd.instance"
type VirtualMachineSpec struct {
	// NodeName is the Kubernetes node the VM runs on; only the agent on that
	// node watches it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="nodeName must be a node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	NodeName string `json:"nodeName"`

	// QMP is a QEMU monitor socket the agent connects to directly.
	// +optional
	QMP *QMPSource `json:"qmp,omitempty"`

	// UUID is the VM's SMBIOS UUID. It ties libvirt audit records and QEMU's
	// query-uuid to this object.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="uuid must be 32 hex digits in the form 8-4-4-4-12, for example 5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"
	UUID string `json:"uuid,omitempty"`

	// Libvirt names the libvirt domain of a libvirt-managed VM.
	// +optional
	Libvirt *LibvirtSource `json:"libvirt,omitempty"`

	// LXD names the LXD instance of an LXD-managed VM or container.
	// +optional
	LXD *LXDSource `json:"lxd,omitempty"`

	// Remediation, when set, has the controller act on faults: which
	// action for which fault condition, after what delay, how often. Off
	// unless an action is named (docs/remediation.md).
	// +optional
	Remediation *RemediationSpec `json:"remediation,omitempty"`

	// EventPolicy says which occurrences become Kubernetes Events, on top
	// of the agent's cluster-wide default (docs/remediation.md).
	// +optional
	EventPolicy *EventPolicy `json:"eventPolicy,omitempty"`
}

// QMPSource is a QEMU Machine Protocol monitor socket on the node.
type QMPSource struct {
	// SocketPath is the absolute path of the QMP unix socket on the node. The
	// agent only connects to sockets under its configured socket roots.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="socketPath must be an absolute path (starting with /)"
	// +kubebuilder:validation:XValidation:rule="size(bytes(self)) <= 107",message="socketPath is too long: a unix socket path can be at most 107 bytes"
	SocketPath string `json:"socketPath"`
}

// LibvirtSource is a domain managed by libvirtd on the node.
type LibvirtSource struct {
	// Domain is the libvirt domain name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Domain string `json:"domain"`
}

// LXDSource is an instance managed by LXD on the node.
type LXDSource struct {
	// Instance is the LXD instance name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Instance string `json:"instance"`

	// Project is the LXD project the instance belongs to.
	// +optional
	// +kubebuilder:default=default
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Project string `json:"project,omitempty"`
}

// VirtualMachine is a VM on a Kubernetes node, observed through its
// hypervisor's event streams.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vm,categories=vmevents
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.runState`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Monitor",type=string,JSONPath=`.status.monitor.state`
// +kubebuilder:printcolumn:name="Panics",type=integer,JSONPath=`.status.eventCounts.GUEST_PANICKED`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.runStateReason`
// +kubebuilder:printcolumn:name="Watchdogs",type=integer,priority=1,JSONPath=`.status.eventCounts.WATCHDOG`
// +kubebuilder:printcolumn:name="IO-Errors",type=integer,priority=1,JSONPath=`.status.eventCounts.BLOCK_IO_ERROR`
// +kubebuilder:printcolumn:name="QEMU",type=string,priority=1,JSONPath=`.status.monitor.qemuVersion`
// +kubebuilder:printcolumn:name="Last-Event",type=date,priority=1,JSONPath=`.status.monitor.lastEventTime`
type VirtualMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the VM runs and which of the hypervisor's event streams
	// describe it: the agent on spec.nodeName watches every source that is set.
	// +required
	Spec VirtualMachineSpec `json:"spec"`

	// Status is what is known about the VM; users do not write it. Two writers
	// share it, each with server-side apply under its own field manager: the
	// node agent owns the facts (everything but conditions and
	// observedGeneration) and the controller owns conditions and
	// observedGeneration.
	// +optional
	Status VirtualMachineStatus `json:"status,omitempty"`
}

// VirtualMachineList is a list of VirtualMachines.
//
// +kubebuilder:object:root=true
type VirtualMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachine `json:"items"`
}

func init() {
	SchemeBuilder.Register(&VirtualMachine{}, &VirtualMachineList{})
}
