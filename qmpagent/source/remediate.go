package source

import (
	"context"
	"errors"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Remediator is a Source that can act on a VM it follows: the agent core
// calls it to carry out the controller's remediation requests
// (status.remediation.request, docs/remediation.md). The core has already
// recorded that it took the request up, so Remediate is called at most once
// per request; it must not retry an action the hypervisor may have done.
type Remediator interface {
	Source
	// Remediate carries out action on vm through the source's own
	// connection to its hypervisor, and returns when the hypervisor has
	// accepted or refused it. It returns an error wrapping
	// ErrNotSupported when the hypervisor offers no such action through
	// this source, and ErrNotConnected when the source holds no verified
	// connection for vm now (never connected, disconnected, refused, or
	// another VM's object): it never acts on a VM it cannot identify.
	Remediate(ctx context.Context, vm *vmv1.VirtualMachine, action vmv1.RemediationAction) error
}

// Why a remediation was not carried out.
var (
	// ErrNotSupported: the source cannot do this action.
	ErrNotSupported = errors.New("not supported by this source")
	// ErrNotConnected: the source has no verified connection for the VM.
	ErrNotConnected = errors.New("no verified connection to the VM's hypervisor")
	// ErrBusy: the hypervisor is moving the VM (a migration, a snapshot
	// being saved or restored); whoever started that owns the VM now.
	ErrBusy = errors.New("the VM is being migrated, saved or restored")
)
