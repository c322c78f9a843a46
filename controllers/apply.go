package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// statusApply is the server-side apply configuration the controller sends
// to the status subresource: only observedGeneration, conditions and the
// controller's part of remediation (request, attempts, totalAttempts; the
// agent owns execution), plus the identity and resourceVersion of the
// object they were computed from.
//
// Applying a whole typed VirtualMachine would not do: its non-omitempty
// fields (monitor.state, blockErrors[].count, spec.nodeName...) would be
// sent as zero values and the controller's field manager would take them
// over from the agent. With this shape the agent's facts are never in the
// request, so they can be neither overwritten nor adopted.
type statusApply struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   statusApplyMeta  `json:"metadata"`
	Status     statusApplyState `json:"status"`
}

type statusApplyMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// ResourceVersion makes the apply conditional: the conditions were
	// computed from this version (read from the cache), and applying them
	// over a newer one could move a lastTransitionTime twice for one flip
	// and so record a second Event for it. A conflict just means "compute
	// again", which the newer version's watch event triggers anyway.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

type statusApplyState struct {
	ObservedGeneration int64              `json:"observedGeneration"`
	Conditions         []metav1.Condition `json:"conditions"`
	// Remediation is nil when there is nothing to record: the fields the
	// controller owned are then removed.
	Remediation *remediationApply `json:"remediation,omitempty"`
}

// remediationApply is the controller's part of status.remediation: never
// execution, which the agent writes under its own field manager.
type remediationApply struct {
	Request       *vmv1.RemediationRequest  `json:"request,omitempty"`
	Attempts      []vmv1.RemediationAttempt `json:"attempts,omitempty"`
	TotalAttempts int64                     `json:"totalAttempts,omitempty"`
}

// newStatusApply returns the apply configuration for vm's conditions and
// remediation record rs (nil: none).
func newStatusApply(vm *vmv1.VirtualMachine, conditions []metav1.Condition, rs *vmv1.RemediationStatus) *statusApply {
	var rem *remediationApply
	if f := controllerFields(rs); f.Request != nil || len(f.Attempts) > 0 || f.TotalAttempts > 0 {
		rem = &remediationApply{Request: f.Request, Attempts: f.Attempts, TotalAttempts: f.TotalAttempts}
	}
	return &statusApply{
		APIVersion: vmv1.GroupVersion.String(),
		Kind:       "VirtualMachine",
		Metadata: statusApplyMeta{
			Name: vm.Name, Namespace: vm.Namespace, ResourceVersion: vm.ResourceVersion,
		},
		Status: statusApplyState{ObservedGeneration: vm.Generation, Conditions: conditions, Remediation: rem},
	}
}

// The methods below make statusApply a runtime.ApplyConfiguration that
// controller-runtime's client can send (it reads the identity through them).

// IsApplyConfiguration marks statusApply as an apply configuration.
func (*statusApply) IsApplyConfiguration() {}

// GetName returns the object's name.
func (a *statusApply) GetName() *string { return &a.Metadata.Name }

// GetNamespace returns the object's namespace.
func (a *statusApply) GetNamespace() *string { return &a.Metadata.Namespace }

// GetKind returns the object's kind.
func (a *statusApply) GetKind() *string { return &a.Kind }

// GetAPIVersion returns the object's API version.
func (a *statusApply) GetAPIVersion() *string { return &a.APIVersion }
