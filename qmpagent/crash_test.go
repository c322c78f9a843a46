package qmpagent_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/journal"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// An agent can die (SIGKILL, OOM) with faults it has read and not yet
// written: queued behind its client's rate limit, or in a write the
// apiserver is slow to answer. Its Events publisher keeps them on disk as
// soon as they are read (before any write), and the next agent publishes
// each once. A "killed" publisher here is one whose journal was let go
// (qmpagent.CrashEvents): it cannot append any more, as a dead process.
var _ = Describe("fault Events across an agent crash", func() {
	It("keeps every fault read but not written, and the next agent publishes each exactly once", func() {
		ns := "crash"
		Expect(env.Client.Create(ctx, namespace(ns))).To(Succeed())
		// Removed leniently: the hung first agent's last spool write may
		// land after it was stopped.
		tmp, err := os.MkdirTemp("", "crash")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = os.RemoveAll(tmp) })
		dir := filepath.Join(tmp, "events")
		spooled := journaled(dir)

		// The first agent: its writes reach the apiserver until they hang,
		// as in a process stuck and then killed.
		var writes gate
		first, spoolErrors := hangingAgent(dir, &writes)

		vmA := corev1.ObjectReference{Kind: "VirtualMachine", Namespace: ns, Name: "vm-a", UID: "uid-a"}
		vmB := corev1.ObjectReference{Kind: "VirtualMachine", Namespace: ns, Name: "vm-b", UID: "uid-b"}
		t0 := time.Now()
		fault := func(vm corev1.ObjectReference, reason string, n int) {
			for i := range n {
				first.Publish(vm, model.Occurrence{Time: t0.Add(time.Duration(i) * time.Millisecond),
					Action: reason, Reason: reason, Warning: true, Note: "a fault", Series: "disk0"})
			}
		}

		// Two disk errors are written while all is well; nothing stays on disk.
		fault(vmA, "BlockIOError", 2)
		Eventually(occurrences(ns, "vm-a", "BlockIOError")).Should(Equal(2))
		Eventually(spooled).Should(BeEmpty())

		// Then the writes hang: three more disk errors, a watchdog and two
		// panics are read. No write failed, yet each series is on disk.
		writes.hold()
		fault(vmA, "BlockIOError", 3)
		fault(vmB, "Watchdog", 1)
		fault(vmB, "GuestPanicked", 2)
		Eventually(spooled).Should(HaveLen(3))

		Expect(spoolErrors.Load()).To(BeZero())

		// The agent dies; the next one takes up its spool.
		qmpagent.CrashEvents(first)
		nextAgent(dir)

		Eventually(occurrences(ns, "vm-a", "BlockIOError")).Should(Equal(5))
		Eventually(occurrences(ns, "vm-b", "Watchdog")).Should(Equal(1))
		Eventually(occurrences(ns, "vm-b", "GuestPanicked")).Should(Equal(2))
		Eventually(spooled).Should(BeEmpty())
		// Nothing left to write, nothing counted twice: the first two disk
		// errors' Event was continued, not made again.
		Expect(occurrences(ns, "vm-a", "BlockIOError")()).To(Equal(5))
		Expect(eventsAbout(ns, "vm-a")()).To(HaveLen(1))
	})

	It("continues from the apiserver's count when a kept file says less than the Event already does", func() {
		ns := "crash-stale"
		Expect(env.Client.Create(ctx, namespace(ns))).To(Succeed())
		// Removed leniently: the hung first agent's last spool write may
		// land after it was stopped.
		tmp, err := os.MkdirTemp("", "crash")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = os.RemoveAll(tmp) })
		dir := filepath.Join(tmp, "events")
		spooled := journaled(dir)
		var writes gate
		first, _ := hangingAgent(dir, &writes)
		vm := corev1.ObjectReference{Kind: "VirtualMachine", Namespace: ns, Name: "vm-c", UID: "uid-c"}
		t0 := time.Now()
		fault := func(e *qmpagent.Events, from, n int) {
			for i := from; i < from+n; i++ {
				e.Publish(vm, model.Occurrence{Time: t0.Add(time.Duration(i) * time.Millisecond),
					Action: "WATCHDOG", Reason: "Watchdog", Warning: true, Series: "reset"})
			}
		}

		// Three watchdog firings are kept while the writes hang; keep a
		// copy of the journal saying so.
		writes.hold()
		fault(first, 0, 3)
		journal := filepath.Join(dir, "journal")
		var kept []byte
		Eventually(func() (map[string]int, error) {
			var err error
			kept, err = os.ReadFile(journal)
			return journaledCounts(kept), err
		}).Should(HaveLen(1))
		Expect(journaledCounts(kept)).To(ContainElement(3))

		// Writes go through again: five in all reach the apiserver.
		writes.release()
		fault(first, 3, 2)
		Eventually(occurrences(ns, "vm-c", "Watchdog")).Should(Equal(5))
		Eventually(spooled).Should(BeEmpty())

		// The copy comes back, as if the run had died after the apiserver
		// took the five and before it could trim the journal saying three
		// (as a spool of the per-key files before the journal could say:
		// a file was kept only once in a while).
		qmpagent.CrashEvents(first)
		Expect(os.WriteFile(journal, kept, 0o600)).To(Succeed())
		next := nextAgent(dir)
		fault(next, 5, 1)
		Eventually(occurrences(ns, "vm-c", "Watchdog")).Should(Equal(6))
		Eventually(spooled).Should(BeEmpty())
		Expect(occurrences(ns, "vm-c", "Watchdog")()).To(Equal(6))
		Expect(eventsAbout(ns, "vm-c")()).To(HaveLen(1))
	})
})

// gate holds an agent's writes: while held they wait, as in a process that
// is stuck; released, they fail once (the client timed out) and the agent
// retries them.
type gate struct {
	mu   sync.Mutex
	held chan struct{}
}

func (g *gate) hold() { g.mu.Lock(); g.held = make(chan struct{}); g.mu.Unlock() }

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

func (g *gate) pass(ctx context.Context) error {
	g.mu.Lock()
	held := g.held
	g.mu.Unlock()
	if held == nil {
		return nil
	}
	select {
	case <-held:
		return errors.New("the write timed out")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hangingAgent runs an Events publisher spooling to dir whose writes reach
// the apiserver unless g holds them. It is never stopped during the test,
// as a killed process is never heard from again; when the test ends its
// writes fail. The counter says how many values its spool could not keep.
func hangingAgent(dir string, g *gate) (*qmpagent.Events, *atomic.Int32) {
	GinkgoHelper()
	real, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	Expect(err).NotTo(HaveOccurred())
	e := qmpagent.NewEvents(interceptor.NewClient(real, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := g.pass(ctx); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := g.pass(ctx); err != nil {
				return err
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}), node)
	var spoolErrors atomic.Int32
	_, err = e.UseSpool(dir, 100, func(error) { spoolErrors.Add(1) })
	Expect(err).NotTo(HaveOccurred())
	runCtx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	go e.Run(runCtx)
	return e, &spoolErrors
}

// nextAgent runs an Events publisher that takes up the spool in dir, as
// the agent started after a crash does, until the test ends.
func nextAgent(dir string) *qmpagent.Events {
	GinkgoHelper()
	e := qmpagent.NewEvents(env.Client, node)
	_, err := e.UseSpool(dir, 100, nil)
	Expect(err).NotTo(HaveOccurred())
	runCtx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	go e.Run(runCtx)
	return e
}

// eventsAbout lists the Events in ns regarding the object named name.
func eventsAbout(ns, name string) func() []eventsv1.Event {
	return func() []eventsv1.Event {
		var list eventsv1.EventList
		Expect(env.Client.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
		var out []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.Name == name {
				out = append(out, e)
			}
		}
		return out
	}
}

// occurrences adds up the series counts of the Events with reason about the
// object named name.
func occurrences(ns, name, reason string) func() int {
	return func() int {
		n := 0
		for _, e := range eventsAbout(ns, name)() {
			if e.Reason == reason {
				n += int(seriesCount(e))
			}
		}
		return n
	}
}

// journaled returns a function reading the values the journal in dir holds
// now, by key, as the next agent would find them.
func journaled(dir string) func() (map[string][]byte, error) {
	return func() (map[string][]byte, error) {
		live, err := journal.Read(dir)
		if os.IsNotExist(err) {
			return nil, nil
		}
		return live, err
	}
}

// journaledCounts is the series count of each value of an Events journal's
// bytes, by key.
func journaledCounts(data []byte) map[string]int {
	tmp := GinkgoT().TempDir()
	Expect(os.WriteFile(filepath.Join(tmp, "journal"), data, 0o600)).To(Succeed())
	live, err := journal.Read(tmp)
	Expect(err).NotTo(HaveOccurred())
	out := map[string]int{}
	for k, v := range live {
		var snap struct {
			Count int `json:"count"`
		}
		Expect(json.Unmarshal(v, &snap)).To(Succeed())
		out[k] = snap.Count
	}
	return out
}
