package qmpagent

import (
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

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
// earlier run kept there.
func (a *Agent) useSpool(dir string) error {
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
		a.facts[key] = f // newer than the VM's status: its write failed
	}
	a.factsMu.Unlock()
	for key, f := range kept {
		a.status.Put(key, f)
	}
	errs, err = a.events.UseSpool(filepath.Join(dir, "events"), spoolEntries, spoolErrors("event"))
	if err != nil {
		return err
	}
	for _, err := range errs {
		log.Error(err, "dropped an unreadable spool file")
	}
	if len(kept) > 0 {
		log.Info("publishing what an earlier run could not", "vms", len(kept))
	}
	return nil
}
