package qmpagent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// UpdateFacts implements source.Publisher.
func (a *Agent) UpdateFacts(key types.NamespacedName, update func(f *model.Facts)) {
	// A VM's updates go one at a time from here to the Put, so that its
	// snapshots are saved and put in the order they were made.
	vmMu := a.vmLocks.of(key)
	vmMu.Lock()
	defer vmMu.Unlock()
	f, urgent := a.updateFacts(key, update)
	// Write-ahead: on disk before any write carries it. Outside factsMu,
	// which every VM's update takes: a save waits for the file, and saves
	// of different VMs are then written together (group commit) instead
	// of one after the other with the agent's every other VM waiting.
	a.status.SaveAhead(key, f)
	if !urgent {
		a.status.PutLater(key, f, a.cfg.RoutineStatusDelay)
		return
	}
	a.status.PutUrgent(key, f)
}

// updateFacts applies update under the lock and returns a snapshot to write
// and whether the update changed a fact that cannot wait (model.Urgent).
func (a *Agent) updateFacts(key types.NamespacedName, update func(f *model.Facts)) (model.Facts, bool) {
	a.factsMu.Lock()
	_, known := a.facts[key]
	a.factsMu.Unlock()
	var base model.Facts
	if !known {
		base = a.factsFromStatus(key) // outside the lock: it reads the cache
	}
	a.factsMu.Lock()
	defer a.factsMu.Unlock()
	f, ok := a.facts[key]
	if !ok {
		f = base
		// The status read holds every drop (and silenced occurrence)
		// written so far.
		delete(a.dropped, key)
		delete(a.silenced, key)
	}
	before := f.Clone()
	update(&f)
	for field, n := range f.Bound() {
		metrics.FactsDropped.WithLabelValues(field).Add(float64(n))
		a.countDroppedLocked(key, n)
	}
	a.facts[key] = f
	return a.snapshotLocked(key, f), !ok || f.Urgent(before)
}

// countDroppedLocked counts n entries (or writes) the core left out of a
// VM's status. They are kept apart from the VM's facts, not added to
// their delivery.dropped: a source that tells its facts whole (the QMP
// session keeps its own and sends them all on every change) replaces
// that count with its own, and the core's would be lost.
func (a *Agent) countDroppedLocked(key types.NamespacedName, n int64) {
	if a.dropped == nil {
		a.dropped = map[types.NamespacedName]int64{}
	}
	a.dropped[key] += n
}

// snapshotLocked is what a VM's status says of facts f: a copy, with the
// drops and silenced occurrences the core counted added to those of the
// source.
func (a *Agent) snapshotLocked(key types.NamespacedName, f model.Facts) model.Facts {
	f = f.Clone()
	f.Delivery.Dropped += a.dropped[key]
	f.Delivery.Silenced += a.silenced[key]
	return f
}

// cacheReadTimeout bounds a read of the agent's cache: it answers at once
// once synced, and a VM it cannot read starts from empty facts.
const cacheReadTimeout = 10 * time.Second

// factsFromStatus reads the facts a VM's status holds, from the cache.
func (a *Agent) factsFromStatus(key types.NamespacedName) model.Facts {
	ctx, cancel := context.WithTimeout(context.Background(), cacheReadTimeout)
	defer cancel()
	var vm vmv1.VirtualMachine
	if err := a.client.Get(ctx, key, &vm); err != nil {
		return model.Facts{}
	}
	return FactsFromStatus(vm.Status)
}

// Facts implements source.Publisher: the agent's own facts if it has them
// (newer than its cache; without the drops the core counted, which it adds
// to every write), else what the VM's status says.
func (a *Agent) Facts(vm *vmv1.VirtualMachine) model.Facts {
	a.factsMu.Lock()
	defer a.factsMu.Unlock()
	if f, ok := a.facts[types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}]; ok {
		return f.Clone()
	}
	return FactsFromStatus(vm.Status)
}

func (a *Agent) writeStatus(ctx context.Context, key types.NamespacedName, f model.Facts) error {
	start := time.Now()
	err := ApplyFacts(ctx, a.client, key, f)
	observe("status")(time.Since(start), err)
	if apierrors.IsInvalid(err) {
		err = a.statusInvalid(ctx, key, f, err)
	}
	if err != nil {
		return fmt.Errorf("writing the status of %s: %w", key, err)
	}
	return nil
}

// countRefused counts, in a VM's status, an Event about it the apiserver
// refused as invalid: the Event is gone, its count says it existed.
func (a *Agent) countRefused(regarding corev1.ObjectReference) {
	key, ok := vmKey(regarding)
	if !ok {
		return
	}
	a.UpdateFacts(key, func(f *model.Facts) {
		f.Delivery.Refused++
	})
}

// statusInvalid handles a status write the apiserver refused as invalid
// (facts Bound let through, a stricter schema than the agent knows):
// written again as is, it would be refused again, forever, and every later
// fact (a panic) with it. It is logged once per VM, counted (metric and
// delivery.dropped), and written once more without the status fields the
// apiserver named (without every list and map if it named none). Refused
// again, it is dropped, not retried: the next fact makes a new write.
func (a *Agent) statusInvalid(ctx context.Context, key types.NamespacedName, f model.Facts, refusal error) error {
	if _, logged := a.invalidLogged.LoadOrStore(key, true); !logged {
		log.FromContext(ctx).Error(refusal, "the apiserver refused a status as invalid; writing it without the fields it named", "vm", key)
	}
	metrics.FactsDropped.WithLabelValues("invalid").Inc()
	a.factsMu.Lock()
	if _, ok := a.facts[key]; ok {
		// Rides along with the next write; a Put here would only repeat
		// the refused write.
		a.countDroppedLocked(key, 1)
	}
	a.factsMu.Unlock()
	f.Delivery.Dropped++
	err := applyStatus(ctx, a.client, key, f, invalidFields(refusal))
	if apierrors.IsInvalid(err) {
		metrics.FactsDropped.WithLabelValues("invalid").Inc()
		log.FromContext(ctx).V(1).Info("the apiserver refused the status without its invalid fields too; dropped", "vm", key, "error", err.Error())
		return nil
	}
	return err
}
