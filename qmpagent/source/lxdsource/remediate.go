package lxdsource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// remedyTarget is the instance a VM named at the last look: the name its
// spec gives, the name it goes by now (renames), its LXD UUID when LXD
// told it, and why the VM was refused it ("" when it was admitted).
type remedyTarget struct {
	spec, current Instance
	uuid          string
	refusal       string
}

// remedies are the instances Remediate may act on: those the VMs named at
// the last look while the event stream was up (acting only on the ones
// admitted: granted, claimed, spec.uuid matching), and this LXD's member
// name then. The stream's goroutine
// writes them; Remediate, on the agent core's goroutine, reads them.
type remedies struct {
	mu      sync.Mutex
	targets map[types.UID]remedyTarget
	member  string
}

func (r *remedies) set(targets map[types.UID]remedyTarget, member string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets, r.member = targets, member
}

func (r *remedies) get(uid types.UID) (remedyTarget, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[uid]
	return t, r.member, ok
}

// stateChange is the body of PUT /1.0/instances/<name>/state.
type stateChange struct {
	Action string `json:"action"`
	Force  bool   `json:"force,omitempty"`
	// Timeout -1: a forced restart does not wait for the guest.
	Timeout int `json:"timeout,omitempty"`
}

// remedySteps are the state changes of each action, in order.
var remedySteps = map[vmv1.RemediationAction][]stateChange{
	vmv1.RemediationReset:      {{Action: "restart", Force: true, Timeout: -1}},
	vmv1.RemediationResume:     {{Action: "unfreeze"}},
	vmv1.RemediationPowerCycle: {{Action: "stop", Force: true}, {Action: "start"}},
}

// lxdOperation is what Remediate reads of an LXD background operation.
type lxdOperation struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	StatusCode int    `json:"status_code"`
	Err        string `json:"err"`
}

// Bounds on what Remediate reads from LXD, and on how long it waits for
// one operation when ctx has no sooner deadline (below the REST client's
// 30 s).
const (
	maxInstanceBytes = 1 << 20
	maxOperationLen  = 64 << 10
	operationWait    = 25 * time.Second
)

// Remediate implements source.Remediator through LXD's REST API, in the
// VM's project: Reset is a forced restart, Resume an unfreeze, PowerCycle
// a forced stop (when the instance runs) then a start; each waits for
// LXD's background operation. It acts only on the instance vm was admitted
// to follow at the stream's last look (granted, claimed, spec.uuid
// matching), and only when LXD still has that instance (the same UUID)
// on this member.
func (s *Source) Remediate(ctx context.Context, vm *vmv1.VirtualMachine, action vmv1.RemediationAction) error {
	steps, ok := remedySteps[action]
	if !ok {
		return fmt.Errorf("LXD: action %q: %w", model.Clean(string(action), 64), source.ErrNotSupported)
	}
	inst, status, err := s.remedyInstance(ctx, vm)
	if err != nil {
		return err
	}
	for _, step := range steps {
		if step.Action == "stop" && status == "Stopped" {
			continue
		}
		if err := s.changeState(ctx, inst, step); err != nil {
			return fmt.Errorf("LXD: %s of %s: %w", step.Action, inst, err)
		}
	}
	return nil
}

// remedyInstance returns the instance vm holds and its LXD status, or why
// it holds none (wrapping source.ErrNotConnected).
func (s *Source) remedyInstance(ctx context.Context, vm *vmv1.VirtualMachine) (Instance, string, error) {
	refused := func(format string, args ...any) (Instance, string, error) {
		return Instance{}, "", fmt.Errorf("LXD: %w: %s", source.ErrNotConnected, fmt.Sprintf(format, args...))
	}
	if vm.Spec.LXD == nil {
		return refused("VirtualMachine %s/%s names no LXD instance", vm.Namespace, vm.Name)
	}
	t, member, ok := s.remedies.get(vm.UID)
	switch {
	case !ok:
		return refused("not following LXD's event stream at %s for this VirtualMachine", model.Clean(s.cfg.Socket, 512))
	case t.refusal != "":
		return refused("%s", t.refusal)
	case t.spec != instanceOf(vm):
		return refused("spec.lxd changed since the agent last looked at this VirtualMachine")
	}
	// Re-checked here: the admission is as old as the last look.
	if err := s.cfg.Tenancy.LXDProject(vm.Namespace, t.current.Project); err != nil {
		return refused("%s", err.Error())
	}
	var info instanceInfo
	err := s.get(ctx, instancePathOf(t.current, ""), maxInstanceBytes, &info)
	var apiErr *apiError
	switch {
	case ctx.Err() != nil:
		return Instance{}, "", ctx.Err()
	case errors.As(err, &apiErr):
		return refused("%s", err.Error())
	case err != nil:
		return refused("%s", model.Clean(err.Error(), 512))
	}
	u := info.Config["volatile.uuid"]
	if t.uuid != "" && u != t.uuid {
		return refused("%s is another instance now (volatile.uuid %s, was %s)", t.current, model.Clean(u, 64), t.uuid)
	}
	if err := source.CheckUUID(vm.Spec.UUID, u, "LXD (volatile.uuid of "+t.current.Project+"/"+t.current.Name+")"); err != nil {
		return refused("%s", err.Error())
	}
	if !memberOwns(member, info.Location) {
		return refused("%s runs on cluster member %s, not this one", t.current, model.Clean(info.Location, maxName))
	}
	return t.current, info.Status, nil
}

// changeState asks LXD for one state change of inst and waits for its
// operation to end.
func (s *Source) changeState(ctx context.Context, inst Instance, change stateChange) error {
	var op lxdOperation
	if err := s.call(ctx, http.MethodPut, instancePathOf(inst, "/state"), change, maxOperationLen, &op); err != nil {
		return err
	}
	if op.ID == "" || !source.ValidUUID(op.ID) {
		return fmt.Errorf("LXD answered with no operation to wait for (id %q)", model.Clean(op.ID, 64))
	}
	wait := operationWait
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = time.Until(d)
	}
	secs := max(int(wait/time.Second), 1)
	path := fmt.Sprintf("/1.0/operations/%s/wait?timeout=%d&project=%s", op.ID, secs, url.QueryEscape(inst.Project))
	if err := s.get(ctx, path, maxOperationLen, &op); err != nil {
		return err
	}
	switch {
	case op.Err != "":
		return errors.New(model.Clean(op.Err, 512))
	case op.Status != "Success":
		return fmt.Errorf("the operation is %s after %d s", model.Clean(op.Status, 32), secs)
	}
	return nil
}

// instancePathOf is the REST path of inst (then sub, e.g. "/state"), in
// its project.
func instancePathOf(inst Instance, sub string) string {
	return "/1.0/instances/" + url.PathEscape(inst.Name) + sub + "?project=" + url.QueryEscape(inst.Project)
}
