package qmpsource

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmevents/vmevents/test/framework/poll"

	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/publishtest"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
)

// following runs a QMP source that follows vm until the test ends, and
// waits until its session is connected.
func following(t *testing.T, vm *vmv1.VirtualMachine) (*Source, *publishtest.Recorder) {
	t.Helper()
	rec := publishtest.NewRecorder()
	src := New(rec, Config{SocketRoots: []string{os.TempDir()}, Tenancy: source.Tenancy{Shared: true},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	src.Follow(vm)
	return src, rec
}

// testMonitor opens the test's own connection on QEMU's second monitor.
func testMonitor(t *testing.T, in *qemutest.Instance) *qmp.Conn {
	t.Helper()
	conn, err := qmp.Dial(context.Background(), in.PrettyQMPPath, qmp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Real QEMU: each action as the agent core calls it, through the session's
// own connection while the session reads events on it.
func TestRemediateOnRealQEMU(t *testing.T) {
	for _, tc := range []struct {
		name string
		qemu qemutest.Options
		// fault brings the guest into the state the action is for, with
		// the test's monitor, and says when the session has seen it.
		fault   string
		faulted func(f model.Facts) bool
		action  vmv1.RemediationAction
		wantErr error
		// wantResets is how many resets QEMU did for the host (SeaBIOS
		// resets the machine once more itself when it boots again after a
		// reset: a guest-initiated RESET, not counted here).
		wantResets int
		wantState  qmp.RunState
	}{{
		name: "Reset of a guest paused by its panic: system_reset, then cont out of prelaunch",
		qemu: qemutest.Options{Boot: qemuvm.PanicOnce, Paused: true, PrettyMonitor: true,
			Args: []string{"-device", "pvpanic", "-action", "panic=pause"}},
		fault:   "cont",
		faulted: func(f model.Facts) bool { return f.RunStateReason == "guest-panicked" },
		action:  vmv1.RemediationReset, wantResets: 1, wantState: qmp.RunStateRunning,
	}, {
		name:    "Reset of a running guest: it keeps running",
		qemu:    qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true},
		faulted: func(f model.Facts) bool { return f.RunState == vmv1.RunStateRunning },
		action:  vmv1.RemediationReset, wantResets: 1, wantState: qmp.RunStateRunning,
	}, {
		name:    "Resume of a paused guest: cont",
		qemu:    qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true},
		fault:   "stop",
		faulted: func(f model.Facts) bool { return f.RunState == vmv1.RunStatePaused },
		action:  vmv1.RemediationResume, wantState: qmp.RunStateRunning,
	}, {
		name:    "PowerCycle is not supported over QMP, and nothing is done",
		qemu:    qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true},
		fault:   "stop",
		faulted: func(f model.Facts) bool { return f.RunState == vmv1.RunStatePaused },
		action:  vmv1.RemediationPowerCycle, wantErr: source.ErrNotSupported, wantState: qmp.RunStatePaused,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := qemutest.Start(t, tc.qemu)
			vm := qmpVM("vm", in.QMPPath)
			src, rec := following(t, vm)
			facts := func() model.Facts { return rec.FactsOf("default", "vm") }
			poll.Until(t, "connected", func() bool { return facts().Monitor.State == vmv1.MonitorConnected })
			mon := testMonitor(t, in)
			if tc.fault != "" {
				if err := mon.Execute(context.Background(), tc.fault, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			poll.Until(t, "the fault seen", func() bool { return tc.faulted(facts()) })

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := src.Remediate(ctx, vm, tc.action)
			if !errors.Is(err, tc.wantErr) || (err != nil && tc.wantErr == nil) {
				t.Fatalf("Remediate: %v, want %v", err, tc.wantErr)
			}
			st, err := mon.QueryStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tc.wantState {
				t.Errorf("QEMU is %s, want %s", st.Status, tc.wantState)
			}
			// The session saw what QEMU did through its own events.
			poll.Until(t, "the state and resets reach the facts", func() bool {
				return (facts().RunState == vmv1.RunStateRunning) == (tc.wantState == qmp.RunStateRunning) && hostResets(rec) == tc.wantResets
			})
		})
	}
}

// A VM the source holds no verified connection for is never acted on:
// one it does not follow, one whose spec names another socket than the
// session follows, and one whose QEMU was refused for its UUID.
func TestRemediateNeedsAVerifiedConnection(t *testing.T) {
	in := qemutest.Start(t, qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true})
	followed := qmpVM("vm", in.QMPPath)
	wrongUUID := qmpVM("other", in.PrettyQMPPath)
	wrongUUID.Spec.UUID = "6c1f0cc7-1a7e-4f0a-9a39-8b3d3b1f9a01"
	src, rec := following(t, followed)
	src.Follow(wrongUUID)
	poll.Until(t, "connected", func() bool { return rec.FactsOf("default", "vm").Monitor.State == vmv1.MonitorConnected })
	poll.Until(t, "refused", func() bool { return rec.FactsOf("default", "other").Monitor.State == vmv1.MonitorRefused })

	moved := followed.DeepCopy()
	moved.Spec.QMP.SocketPath = in.Dir + "/elsewhere.qmp"
	for name, vm := range map[string]*vmv1.VirtualMachine{
		"not followed":           qmpVM("stranger", in.QMPPath),
		"spec names another one": moved,
		"refused for its UUID":   wrongUUID,
	} {
		if err := src.Remediate(context.Background(), vm, vmv1.RemediationReset); !errors.Is(err, source.ErrNotConnected) {
			t.Errorf("%s: Remediate: %v, want ErrNotConnected", name, err)
		}
	}
	// The refused session redials the second monitor; the test needs it.
	src.Forget(types.NamespacedName{Namespace: "default", Name: "other"})
	st, err := testMonitor(t, in).QueryStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := hostResets(rec); n != 0 || !st.Running {
		t.Errorf("QEMU was acted on: %d resets, status %s", n, st.Status)
	}
}

// hostResets counts the RESETs the host asked for that the source published.
func hostResets(rec *publishtest.Recorder) int {
	n := 0
	for _, o := range rec.Occurrences() {
		if o.Action == "RESET" && strings.Contains(o.Note, string(qmp.ShutdownCauseHostQMPSystemReset)) {
			n++
		}
	}
	return n
}

// A VM QEMU is migrating (here: waiting for an incoming migration) belongs
// to the migration: whatever status said, QEMU's own run state is asked
// right before acting, and nothing is done.
func TestRemediateLeavesAMigratingVMAlone(t *testing.T) {
	in := qemutest.Start(t, qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true, Args: []string{"-incoming", "defer"}})
	vm := qmpVM("vm", in.QMPPath)
	src, rec := following(t, vm)
	poll.Until(t, "connected", func() bool { return rec.FactsOf("default", "vm").Monitor.State == vmv1.MonitorConnected })
	for _, action := range []vmv1.RemediationAction{vmv1.RemediationReset, vmv1.RemediationResume} {
		if err := src.Remediate(context.Background(), vm, action); !errors.Is(err, source.ErrBusy) {
			t.Errorf("%s: %v, want ErrBusy", action, err)
		}
	}
	st, err := testMonitor(t, in).QueryStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := hostResets(rec); n != 0 || st.Status != qmp.RunStateInMigrate {
		t.Errorf("QEMU was acted on: %d resets, status %s", n, st.Status)
	}
}
