package qmpagent

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"

	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// spoolEntries bounds each spool folder: far more VMs than a node runs, and
// far more distinct Event series than an outage produces.
const spoolEntries = 100000

// spoolErrors counts what the spool could not keep, by kind, and logs it
// at most once per spoolLogEvery: a full disk during a storm fails a save
// many times a second, and the metric has the count.
func spoolErrors(kind string) func(error) {
	log := ctrl.Log.WithName("spool")
	var mu sync.Mutex
	var last time.Time
	return func(err error) {
		metrics.SpoolErrors.WithLabelValues(kind).Inc()
		mu.Lock()
		quiet := time.Since(last) < spoolLogEvery
		if !quiet {
			last = time.Now()
		}
		mu.Unlock()
		if !quiet {
			log.Error(err, "could not keep a value on disk; it stays in memory (vmevents_agent_spool_errors_total counts every one)", "kind", kind)
		}
	}
}

// spoolLogEvery spaces the spool's error logs.
const spoolLogEvery = 10 * time.Second

// useSpool keeps unwritten facts and Events under dir and takes up what an
// earlier run kept there. Kept facts are written once the manager's cache
// has synced, and only for VMs still on this node (spoolReplay).
func (a *Agent) useSpool(mgr manager.Manager, dir string) error {
	log := ctrl.Log.WithName("spool")
	facts, err := NewSpool[types.NamespacedName, model.Facts](filepath.Join(dir, "facts"), spoolEntries)
	if err != nil {
		return err
	}
	kept, errs := a.status.UseSpool(facts, spoolErrors("status"))
	for _, err := range errs {
		log.Error(err, "dropped an unreadable spool file")
	}
	a.factsMu.Lock()
	for key, f := range kept {
		a.facts[key] = f // saved ahead of its write: at least as new as the VM's status
	}
	a.factsMu.Unlock()
	errs, err = a.events.UseSpool(filepath.Join(dir, "events"), spoolEntries, spoolErrors("event"))
	if err != nil {
		return err
	}
	for _, err := range errs {
		log.Error(err, "dropped an unreadable spool file")
	}
	if len(kept) == 0 {
		return nil
	}
	keys := make([]types.NamespacedName, 0, len(kept))
	for key := range kept {
		keys = append(keys, key)
	}
	return mgr.Add(&spoolReplay{agent: a, cache: mgr.GetCache(), keys: keys})
}

// spoolReplay writes the facts an earlier run kept, once the cache (of this
// node's VMs only) has synced: a VM that moved to another node, or was
// deleted, while this agent was down has its kept facts dropped, not
// written over what the other node's agent publishes.
type spoolReplay struct {
	agent *Agent
	cache cache.Cache
	keys  []types.NamespacedName
}

// NeedLeaderElection is false: every node's agent replays its own spool.
func (r *spoolReplay) NeedLeaderElection() bool { return false }

// Start replays the kept facts and returns.
func (r *spoolReplay) Start(ctx context.Context) error {
	if !r.cache.WaitForCacheSync(ctx) {
		return nil // stopped before the cache synced: the spool stays for the next run
	}
	a, log := r.agent, ctrl.Log.WithName("spool")
	replayed := 0
	for _, key := range r.keys {
		var vm vmv1.VirtualMachine
		err := a.client.Get(ctx, key, &vm)
		if err != nil && !apierrors.IsNotFound(err) {
			// Kept on disk, unwritten: the VM's next facts, if it is still
			// this node's, are written and trim it.
			log.Error(err, "could not tell whether a VM with kept facts is still on this node", "vm", key)
			continue
		}
		if err != nil || vm.Spec.NodeName != a.cfg.NodeName || !vm.DeletionTimestamp.IsZero() {
			// The cache holds only this node's VMs: not found is gone or
			// moved; either way no longer this agent's to write.
			log.Info("dropped the kept facts of a VM no longer on this node", "vm", key, "node", vm.Spec.NodeName)
			a.status.Forget(key) // removes it from the spool
			a.factsMu.Lock()
			delete(a.facts, key)
			a.factsMu.Unlock()
			continue
		}
		// The facts as they are now: a source may have updated them since
		// they were loaded.
		a.factsMu.Lock()
		f, ok := a.facts[key]
		a.factsMu.Unlock()
		if ok {
			a.status.Put(key, f)
			replayed++
		}
	}
	if replayed > 0 {
		log.Info("publishing what an earlier run could not", "vms", replayed)
	}
	return nil
}

// closeSpool fsyncs and closes the spool once the writers have stopped, so
// that the next agent (a restart in the same process too) can open it.
func (a *Agent) closeSpool() {
	log := ctrl.Log.WithName("spool")
	if s := a.status.spool; s != nil {
		if err := s.Close(); err != nil {
			log.Error(err, "closing the status spool")
		}
	}
	if ss := a.events.spool; ss != nil {
		if err := ss.spool.Close(); err != nil {
			log.Error(err, "closing the Event spool")
		}
	}
}
