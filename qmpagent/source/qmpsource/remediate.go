package qmpsource

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Remediate implements source.Remediator through the VM's own session: the
// command goes over the connection the session holds, verified (socket
// trusted and claimed, UUID checked). qmp.Conn matches each command to its
// reply by id, so commands run beside the session's NextEvent loop, and
// the events they cause (RESET, RESUME) reach status the usual way.
//
// Reset is system_reset, then cont when QEMU does not run the guest after
// it: QEMU puts a reset guest that was stopped (panicked, watchdog, paused)
// into prelaunch. Resume is cont. PowerCycle is not supported: a QEMU
// followed over its QMP socket alone has no manager to start a new process.
func (s *Source) Remediate(ctx context.Context, vm *vmv1.VirtualMachine, action vmv1.RemediationAction) error {
	if action == vmv1.RemediationPowerCycle {
		return fmt.Errorf("%s: %w: a QEMU followed over its QMP socket alone has no manager to start it again (use Reset)", action, source.ErrNotSupported)
	}
	if action != vmv1.RemediationReset && action != vmv1.RemediationResume {
		return fmt.Errorf("%s: %w", action, source.ErrNotSupported)
	}
	conn, err := s.live(vm)
	if err != nil {
		return err
	}
	if err := notBusy(ctx, conn); err != nil {
		return err
	}
	if action == vmv1.RemediationResume {
		return conn.Execute(ctx, "cont", nil, nil)
	}
	if err := conn.Execute(ctx, "system_reset", nil, nil); err != nil {
		return err
	}
	return runAfterReset(ctx, conn)
}

// live returns the verified connection of vm's session, if the session
// follows what vm's spec names now and is connected.
func (s *Source) live(vm *vmv1.VirtualMachine) (*qmp.Conn, error) {
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	s.mu.Lock()
	r := s.sessions[key]
	s.mu.Unlock()
	if vm.Spec.QMP == nil || r == nil || r.socketPath != vm.Spec.QMP.SocketPath || r.uuid != vm.Spec.UUID {
		return nil, fmt.Errorf("%w: no QMP session follows %s", source.ErrNotConnected, key)
	}
	conn := r.conn.Load()
	if conn == nil || conn.Err() != nil {
		return nil, fmt.Errorf("%w: the QMP monitor at %s is not connected", source.ErrNotConnected, r.socketPath)
	}
	return conn, nil
}

// busyStates are QEMU's run states in which another party moves the VM: a
// migration in or out, a snapshot saved or restored.
var busyStates = map[qmp.RunState]bool{
	qmp.RunStateInMigrate: true, qmp.RunStatePostMigrate: true, qmp.RunStateFinishMigrate: true,
	qmp.RunStateSaveVM: true, qmp.RunStateRestoreVM: true,
}

// notBusy asks QEMU itself, right before acting, whether another party is
// moving the VM: the controller decided from status, which may be a moment
// behind.
func notBusy(ctx context.Context, conn *qmp.Conn) error {
	st, err := conn.QueryStatus(ctx)
	if err != nil {
		return fmt.Errorf("query-status before acting: %w", err)
	}
	if busyStates[st.Status] {
		return fmt.Errorf("%w: QEMU run state %q; not acted on", source.ErrBusy, st.Status)
	}
	return nil
}

// resetPoll is how often runAfterReset asks QEMU whether it has reset yet.
const resetPoll = 20 * time.Millisecond

// runAfterReset lets the guest run once QEMU has carried out a
// system_reset. QEMU resets in its main loop after the command has
// returned; until then a panicked (or shut down) guest still reads its old
// state, in which cont is refused ("Resetting the Virtual Machine is
// required"), so it waits for the state to change. Bounded by ctx.
func runAfterReset(ctx context.Context, conn *qmp.Conn) error {
	for {
		st, err := conn.QueryStatus(ctx)
		if err != nil {
			return fmt.Errorf("after system_reset: %w", err)
		}
		switch {
		case st.Running:
			return nil
		case st.Status != qmp.RunStateGuestPanicked && st.Status != qmp.RunStateInternalError && st.Status != qmp.RunStateShutdown:
			if err := conn.Execute(ctx, "cont", nil, nil); err != nil {
				return fmt.Errorf("after system_reset (%s): %w", st.Status, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("QEMU did not carry out system_reset (still %s): %w", st.Status, ctx.Err())
		case <-time.After(resetPoll):
		}
	}
}
