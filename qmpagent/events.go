package qmpagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// ReportingController names the agent in the Events it publishes.
const ReportingController = "vmevents.dev/agent"

// SeriesWindow is how long after its last occurrence a series takes more
// occurrences; a later one starts a new Event.
const SeriesWindow = 30 * time.Minute

// Events publishes Occurrences as events.k8s.io/v1 Events. Occurrences with
// the same object, reason and Series fold into one Event whose series count
// is exact; distinct ones (another disk, another action) get Events of their
// own. A series is written to the apiserver at most twice in a row and then
// once per EventInterval on average (Coalescer).
//
// The agent does not use client-go's recorders: the legacy one drops events
// silently after a burst and during outages, and the events.k8s.io one folds
// isomorphic events by (reason, action, related) only and discards their
// notes; neither says what it dropped.
type Events struct {
	client client.Client
	node   string
	writer *Coalescer[string, seriesSnapshot]

	// Observe, when set, is told the duration and result of every write.
	Observe func(d time.Duration, err error)
	// Refused, when set, is told of every Event the apiserver refused as
	// invalid (and that was dropped), with the object it was about.
	Refused func(regarding corev1.ObjectReference)

	mu     sync.Mutex
	series map[string]*series
	// open counts the series of each object and type (capKey) but its
	// EventsSuppressed ones: at most MaxSeriesPerObject.
	open map[string]int
	// publishes counts calls, to prune old series every so often.
	publishes int

	// spool, when set (UseSpool, before Run), keeps series on disk.
	spool *seriesSpool
}

// pruneEvery is how many publishes pass between two prunings of series
// whose window has closed.
const pruneEvery = 4096

// EventInterval is the least time between two writes of one series.
const EventInterval = time.Second

type series struct {
	regarding corev1.ObjectReference
	// suppressed marks an object's EventsSuppressed series, outside its cap.
	suppressed bool
	first      model.Occurrence
	name       string
	count      int64
	last       time.Time
	created    bool
	// restored is the count of a series taken from the spool of an
	// earlier run (which may have written more of it than its file says)
	// until its Event is found; 0 otherwise.
	restored int64
}

// seriesSnapshot is what one write of a series says; it is what the spool
// keeps, hence the JSON.
type seriesSnapshot struct {
	Regarding corev1.ObjectReference `json:"regarding"`
	First     model.Occurrence       `json:"first"`
	Name      string                 `json:"name"`
	Count     int64                  `json:"count"`
	Last      time.Time              `json:"last"`
	// Restored is the count a series had when it was taken from the spool
	// and its Event not found yet: kept, so that an agent dying twice
	// before it reaches the apiserver still knows which part of Count the
	// apiserver may already hold.
	Restored int64 `json:"restored,omitempty"`
}

// NewEvents returns a publisher reporting as the agent on node. Call Run.
func NewEvents(c client.Client, node string) *Events {
	e := &Events{client: c, node: node, series: map[string]*series{}, open: map[string]int{}}
	e.writer = NewCoalescer("events", EventInterval, e.write)
	return e
}

// eventWorkers is how many Event writes may be under way at once, waiting
// for a place in flight at the agent's WriteGate or in flight: as many as
// the gate has places, so that Events alone can draw the apiserver's
// throughput (docs/benchmarks.md, scenario 2: 8 in flight gave a p99 of
// 9 s at 200 events/s on a 2-core control plane, 32 about 0.3 s).
const eventWorkers = 32

// UseGate makes the Event writes take their place in flight at g, a
// fault's in LaneUrgent, a Normal one's in LaneEvents. It must be called
// before Run.
func (e *Events) UseGate(g *WriteGate) { e.writer.UseGate(g, LaneEvents) }

// Run publishes until ctx ends.
func (e *Events) Run(ctx context.Context) {
	e.writer.Run(ctx, eventWorkers)
}

// Publish queues an occurrence about the object and reports whether it was
// folded into an existing series (coalesced) rather than starting an Event.
func (e *Events) Publish(regarding corev1.ObjectReference, occ model.Occurrence) (coalesced bool) {
	if occ.Time.IsZero() {
		occ.Time = time.Now()
	}
	object := objectKey(regarding)
	key := seriesKey(object, occ)
	e.mu.Lock()
	e.publishes++
	if e.publishes%pruneEvery == 0 {
		e.pruneLocked(occ.Time)
	}
	s, ok := e.series[key]
	if ok && occ.Time.Sub(s.last) > SeriesWindow && s.created && !e.writer.Pending(key) {
		// A new Event, unless the old one is not all written yet (a long
		// outage, a series taken from the spool): its count would be lost
		// with it, so the late occurrence joins it instead.
		ok = false
	}
	suppressed := false
	capped := capKey(object, occ.Warning)
	if _, exists := e.series[key]; !exists && e.open[capped] >= MaxSeriesPerObject {
		occ, suppressed = suppressedOccurrence(occ), true
		key = seriesKey(object, occ)
		s, ok = e.series[key]
		metrics.EventsSuppressed.Add(float64(max(1, occ.Repeat)))
	}
	if !ok {
		if _, exists := e.series[key]; !exists && !suppressed {
			e.open[capped]++
		}
		s = &series{regarding: regarding, first: occ, name: eventName(regarding, key, occ.Time), suppressed: suppressed}
		e.series[key] = s
	}
	// A fault again in a series written less than RepeatWindow ago only
	// moves its count: like a repeat in the status facts (model.Urgent),
	// it waits with the Normal Events when the apiserver cannot keep up.
	repeat := ok && s.created && !occ.Time.Before(s.last) && occ.Time.Sub(s.last) <= model.RepeatWindow
	s.count += max(1, occ.Repeat)
	if occ.Time.After(s.last) {
		s.last = occ.Time
	}
	snap := s.snapshot()
	e.mu.Unlock()
	if e.spool != nil {
		e.spool.keep(key, snap, false) // write-ahead: on disk before any write carries it
	}
	if occ.Warning && !repeat {
		// A fault's Event goes ahead of Normal ones when the apiserver
		// cannot keep up (Coalescer's lanes).
		e.writer.PutUrgent(key, snap)
	} else {
		e.writer.Put(key, snap)
	}
	return ok || suppressed
}

// pruneLocked drops the series no occurrence can join any more and that
// have nothing left to write, so a long-lived agent's memory stays bounded.
func (e *Events) pruneLocked(now time.Time) {
	for key, s := range e.series {
		if now.Sub(s.last) > SeriesWindow && s.created && !e.writer.Pending(key) {
			e.forgetLocked(key)
		}
	}
}

// forgetLocked drops one series everywhere; e.mu is held.
func (e *Events) forgetLocked(key string) {
	if s, ok := e.series[key]; ok && !s.suppressed {
		capped := capKey(objectKey(s.regarding), s.first.Warning)
		if e.open[capped]--; e.open[capped] <= 0 {
			delete(e.open, capped)
		}
	}
	delete(e.series, key)
	e.writer.Forget(key)
	if e.spool != nil {
		e.spool.forget(key)
	}
}

// Forget drops the series of an object that is gone.
func (e *Events) Forget(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, s := range e.series {
		if s.regarding.UID == uid {
			e.forgetLocked(key)
		}
	}
}

// eventName is unique per series and the same for every retry of its
// creation, so a retry after a lost reply gives AlreadyExists, not a twin.
func eventName(regarding corev1.ObjectReference, key string, first time.Time) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d", key, first.UnixNano())))
	name := regarding.Name
	if len(name) > 200 {
		name = name[:200]
	}
	return name + "." + hex.EncodeToString(sum[:8])
}

func (e *Events) write(ctx context.Context, key string, s seriesSnapshot) error {
	start := time.Now()
	count, err := e.writeSeries(ctx, key, s)
	if e.Observe != nil {
		e.Observe(time.Since(start), err)
	}
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		// The namespace is gone, or the apiserver will never take this
		// Event: retrying (and replaying it after every restart) helps no one.
		e.drop(key, s.Name)
		log.FromContext(ctx).Error(err, "dropped an Event the apiserver refuses for good", "event", s.Name, "namespace", namespaceOf(s.Regarding), "count", s.Count)
		reason := "namespace-gone"
		if apierrors.IsInvalid(err) {
			reason = "invalid"
			if e.Refused != nil {
				e.Refused(s.Regarding)
			}
		}
		metrics.EventsRefused.WithLabelValues(reason).Add(float64(max(s.Count, 1)))
		return nil
	}
	if e.spool == nil {
		return err
	}
	if err != nil {
		if newest, ok := e.snapshot(key); ok {
			e.spool.keep(key, newest, true)
		}
		return err
	}
	e.spool.written(key, s.Name, count)
	return nil
}

// drop forgets the series named name, if key still holds it.
func (e *Events) drop(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.series[key]; ok && cur.name == name {
		e.forgetLocked(key)
	}
}

// snapshot is what a write of the series would say now.
func (e *Events) snapshot(key string) (seriesSnapshot, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.series[key]
	if !ok {
		return seriesSnapshot{}, false
	}
	return s.snapshot(), true
}

// snapshot is what a write of s says now.
func (s *series) snapshot() seriesSnapshot {
	return seriesSnapshot{Regarding: s.regarding, First: s.first, Name: s.name, Count: s.count, Last: s.last, Restored: s.restored}
}
