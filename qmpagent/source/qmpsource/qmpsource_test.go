package qmpsource

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vmevents/vmevents/test/framework/poll"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// fakeQEMU serves a running QEMU on a fresh socket until the test ends.
func fakeQEMU(t *testing.T) string {
	srv := qmptest.NewServer(t)
	srv.Serve(func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		return p.Respond(qmptest.RunningQEMU)
	})
	return srv.Path
}

func qmpVM(name, socket string) *vmv1.VirtualMachine {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)}}
	vm.Spec.NodeName = "n1"
	if socket != "" {
		vm.Spec.QMP = &vmv1.QMPSource{SocketPath: socket}
	}
	return vm
}

// The agent may tell the source of a VM before the source started (the
// manager starts the VM controller and the agent in no fixed order): the
// session must start with the source, not wait for the VM's next change.
// A VM that stops naming a socket, or is forgotten, loses its session.
func TestSourceFollowsVMsToldBeforeAndAfterStart(t *testing.T) {
	rec := publishtest.NewRecorder()
	// The fake QEMUs' sockets are in test folders of the temp dir, not in
	// a namespace's folder: this test is not about tenancy.
	src := New(rec, Config{SocketRoots: []string{os.TempDir()}, Tenancy: source.Tenancy{Shared: true}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	early, late := qmpVM("early", fakeQEMU(t)), qmpVM("late", fakeQEMU(t))
	src.Follow(early)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Start(ctx) }()
	state := func(name string) vmv1.MonitorState { return rec.FactsOf("default", name).Monitor.State }
	poll.Until(t, "the VM told before Start connected", func() bool { return state("early") == vmv1.MonitorConnected })

	src.Follow(late)
	poll.Until(t, "the VM told after Start connected", func() bool { return state("late") == vmv1.MonitorConnected })

	// Follow and Forget return once the session has ended.
	if n := testutil.ToFloat64(metrics.Sessions); n != 2 {
		t.Fatalf("%v sessions, want 2", n)
	}
	src.Follow(qmpVM("late", ""))
	if n := testutil.ToFloat64(metrics.Sessions); n != 1 {
		t.Errorf("%v sessions after a VM stopped naming a socket, want 1", n)
	}
	src.Forget(types.NamespacedName{Namespace: "default", Name: "early"})
	if n := testutil.ToFloat64(metrics.Sessions); n != 0 {
		t.Errorf("%v sessions after the last VM was forgotten, want 0", n)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start returned %v", err)
	}
}
