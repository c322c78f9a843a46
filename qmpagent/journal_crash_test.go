package qmpagent_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// Zero loss across an agent SIGKILL: whatever the agent has read (Normal
// and Warning occurrences, the status counters that wait to ride along)
// is in its journal before any write can carry it, so the next agent
// publishes it; and what the apiserver already holds is not counted
// twice, wherever the kill falls.
var _ = Describe("the journal across an agent crash", func() {
	DescribeTable("publishes every count exactly once",
		func(crash crashPoint) {
			ns := fmt.Sprintf("journal-%d", crash)
			here := fmt.Sprintf("node-journal-%d", crash)
			Expect(env.Client.Create(ctx, namespace(ns))).To(Succeed())
			dir := GinkgoT().TempDir()
			vm := testenv.VirtualMachine(ns, "vm", vmv1.VirtualMachineSpec{NodeName: here,
				QMP: &vmv1.QMPSource{SocketPath: filepath.Join(dir, "none.qmp")}})
			Expect(env.Client.Create(ctx, vm)).To(Succeed())
			key := client.ObjectKeyFromObject(vm)
			ref := corev1.ObjectReference{Kind: "VirtualMachine", APIVersion: vmv1.GroupVersion.String(), Namespace: ns, Name: vm.Name, UID: vm.UID}
			cfg := qmpagent.Config{NodeName: here, SpoolDir: dir, RoutineStatusDelay: 10 * time.Millisecond}

			writes := &stuckWrites{after: crash == afterAPIWrite}
			first, stopFirst := agentWith(cfg, writes.newClient)
			DeferCleanup(stopFirst)
			sent := map[string]int{}
			read := func(a *qmpagent.Agent, reason string, warning bool, n int) {
				for range n {
					a.Publish(ref, model.Occurrence{Action: reason, Reason: reason, Warning: warning, Note: reason, Series: "s"}, "qmp")
					a.UpdateFacts(key, func(f *model.Facts) { f.Count(reason, 1) })
				}
				sent[reason] += n
			}
			// All is well: written, and the journal trimmed.
			read(first, "Resumed", false, 3)
			read(first, "BlockIOError", true, 2)
			Eventually(occurrences(ns, vm.Name, "Resumed")).Should(Equal(3))
			Eventually(getVM(vm)).Should(HaveField("EventCounts", HaveKeyWithValue("BlockIOError", int64(2))))
			Eventually(journaled(filepath.Join(dir, "events"))).Should(BeEmpty())
			Eventually(journaled(filepath.Join(dir, "facts"))).Should(BeEmpty())

			// The writes get stuck (before or after reaching the apiserver)
			// while more is read, Normal and Warning alike.
			writes.hold()
			read(first, "Resumed", false, 40)
			read(first, "BlockIOError", true, 25)
			read(first, "Stopped", false, 5)
			read(first, "Watchdog", true, 1)
			Eventually(writes.stuckOnes).Should(And(HaveKey("status"), HaveKey("event")))

			// The agent is killed, its writes in flight; the next one takes up
			// its journal.
			qmpagent.Crash(first)
			writes.kill()
			_, stopNext := agentWith(cfg, nil)
			DeferCleanup(stopNext)

			for reason, n := range sent {
				Eventually(occurrences(ns, vm.Name, reason)).Should(Equal(n), reason)
				Eventually(getVM(vm)).Should(HaveField("EventCounts", HaveKeyWithValue(reason, int64(n))), reason)
			}
			// Nothing left to write, nothing counted twice.
			Eventually(journaled(filepath.Join(dir, "events"))).Should(BeEmpty())
			Eventually(journaled(filepath.Join(dir, "facts"))).Should(BeEmpty())
			for reason, n := range sent {
				Expect(occurrences(ns, vm.Name, reason)()).To(Equal(n), reason)
				Expect(getVM(vm)().EventCounts).To(HaveKeyWithValue(reason, int64(n)), reason)
			}
		},
		Entry("killed between the journal write and the API write", beforeAPIWrite),
		Entry("killed between the API write and the journal trim", afterAPIWrite),
	)
})

// crashPoint is where, in a write, the agent is killed.
type crashPoint int

const (
	beforeAPIWrite crashPoint = iota + 1
	afterAPIWrite
)

// stuckWrites makes an agent's API writes (status applies, Event creates
// and patches) stick once held: before they reach the apiserver, or (after)
// once the apiserver has taken them, before the agent hears back. Killed,
// every write fails at once without reaching the apiserver, as a dead
// process's would never be made.
type stuckWrites struct {
	after bool

	mu    sync.Mutex
	held  bool
	stuck map[string]int
	dead  chan struct{}
}

var errKilled = errors.New("the agent was killed")

func (s *stuckWrites) hold() { s.mu.Lock(); s.held = true; s.mu.Unlock() }

func (s *stuckWrites) kill() { s.mu.Lock(); close(s.dead); s.mu.Unlock() }

// stuckOnes counts the writes stuck so far, by kind (status, event).
func (s *stuckWrites) stuckOnes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.stuck)
}

// do makes one write of kind.
func (s *stuckWrites) do(ctx context.Context, kind string, write func() error) error {
	s.mu.Lock()
	held, dead := s.held, s.dead
	s.mu.Unlock()
	select {
	case <-dead:
		return errKilled
	default:
	}
	if !held {
		return write()
	}
	if s.after {
		if err := write(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.stuck[kind]++
	s.mu.Unlock()
	select {
	case <-dead:
		return errKilled
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stuckWrites) newClient(config *rest.Config, options client.Options) (client.Client, error) {
	s.mu.Lock()
	s.stuck, s.dead = map[string]int{}, make(chan struct{})
	s.mu.Unlock()
	c, err := client.NewWithWatch(config, options)
	if err != nil {
		return nil, err
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			return s.do(ctx, "status", func() error { return c.SubResource(sub).Apply(ctx, obj, opts...) })
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*corev1.Event); !ok {
				return c.Create(ctx, obj, opts...)
			}
			return s.do(ctx, "event", func() error { return c.Create(ctx, obj, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*corev1.Event); !ok {
				return c.Patch(ctx, obj, patch, opts...)
			}
			return s.do(ctx, "event", func() error { return c.Patch(ctx, obj, patch, opts...) })
		},
	}), nil
}

// agentWith runs an agent with cfg (its client made by newClient, the
// manager's default when nil) and a source that reads nothing: the spec
// publishes through the agent, as a source does. It returns the agent and
// the function that stops it.
func agentWith(cfg qmpagent.Config, newClient client.NewClientFunc) (*qmpagent.Agent, func()) {
	GinkgoHelper()
	var agent *qmpagent.Agent
	stop := runAgentWith(cfg, newClient, func(p source.Publisher) (source.Source, error) {
		agent = p.(*qmpagent.Agent)
		return idleSource{}, nil
	})
	return agent, stop
}
