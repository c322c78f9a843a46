package qmpagent

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// RemediationOnly is an agent process reduced to its remediation
// executor, for the suite's specs on what two agent processes reading the
// same version of a VM do.
type RemediationOnly struct{ a *Agent }

// NewRemediationOnly returns one, writing through c and acting through
// sources.
func NewRemediationOnly(c client.Client, sources ...source.Source) *RemediationOnly {
	return &RemediationOnly{a: &Agent{client: c, sources: sources}}
}

// Remediate decides on vm as a reconcile that read it would.
func (r *RemediationOnly) Remediate(ctx context.Context, vm *vmv1.VirtualMachine) (ctrl.Result, error) {
	return r.a.remediate(ctx, vm)
}

// Wait waits for the actions started and their reports.
func (r *RemediationOnly) Wait() { r.a.remediating.stop() }
