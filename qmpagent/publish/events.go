package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// SeriesWindow is how long after its last occurrence a series takes more
// occurrences; a later one starts a new Event.
const SeriesWindow = 30 * time.Minute

// Events publishes Occurrences as events.k8s.io/v1 Events. Occurrences with
// the same object, reason and Series fold into one Event whose series count
// is exact; distinct ones (another disk, another action) get Events of their
// own. The apiserver is written to at most once per EventInterval per series.
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

	mu     sync.Mutex
	series map[string]*series
	// publishes counts calls, to prune old series every so often.
	publishes int
}

// pruneEvery is how many publishes pass between two prunings of series
// whose window has closed.
const pruneEvery = 4096

// EventInterval is the least time between two writes of one series.
const EventInterval = time.Second

type series struct {
	regarding corev1.ObjectReference
	first     model.Occurrence
	name      string
	count     int64
	last      time.Time
	created   bool
}

type seriesSnapshot struct {
	regarding corev1.ObjectReference
	first     model.Occurrence
	name      string
	count     int64
	last      time.Time
}

// NewEvents returns a publisher reporting as the agent on node. Call Run.
func NewEvents(c client.Client, node string) *Events {
	e := &Events{client: c, node: node, series: map[string]*series{}}
	e.writer = NewCoalescer("events", EventInterval, e.write)
	return e
}

// Run publishes until ctx ends.
func (e *Events) Run(ctx context.Context) { e.writer.Run(ctx, 4) }

// Publish queues an occurrence about the object and reports whether it was
// folded into an existing series (coalesced) rather than starting an Event.
func (e *Events) Publish(regarding corev1.ObjectReference, occ model.Occurrence) (coalesced bool) {
	if occ.Time.IsZero() {
		occ.Time = time.Now()
	}
	key := string(regarding.UID) + "/" + regarding.Namespace + "/" + regarding.Name + "/" + occ.EventType() + "/" + occ.Reason + "/" + occ.Series
	e.mu.Lock()
	e.publishes++
	if e.publishes%pruneEvery == 0 {
		e.pruneLocked(occ.Time)
	}
	s, ok := e.series[key]
	if ok && occ.Time.Sub(s.last) > SeriesWindow {
		ok = false
	}
	if !ok {
		s = &series{regarding: regarding, first: occ, name: eventName(regarding, key, occ.Time)}
		e.series[key] = s
	}
	s.count += max(1, occ.Repeat)
	if occ.Time.After(s.last) {
		s.last = occ.Time
	}
	snap := seriesSnapshot{regarding: s.regarding, first: s.first, name: s.name, count: s.count, last: s.last}
	e.mu.Unlock()
	e.writer.Put(key, snap)
	return ok
}

// pruneLocked drops the series no occurrence can join any more and that
// have nothing left to write, so a long-lived agent's memory stays bounded.
func (e *Events) pruneLocked(now time.Time) {
	for key, s := range e.series {
		if now.Sub(s.last) > SeriesWindow && s.created && !e.writer.Pending(key) {
			delete(e.series, key)
			e.writer.Forget(key)
		}
	}
}

// Forget drops the series of an object that is gone.
func (e *Events) Forget(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, s := range e.series {
		if s.regarding.UID == uid {
			delete(e.series, key)
			e.writer.Forget(key)
		}
	}
}

// Pending reports whether any Event is still to be written.
func (e *Events) Pending() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key := range e.series {
		if e.writer.Pending(key) {
			return true
		}
	}
	return false
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
	err := e.writeSeries(ctx, key, s)
	if e.Observe != nil {
		e.Observe(time.Since(start), err)
	}
	return err
}

func (e *Events) writeSeries(ctx context.Context, key string, s seriesSnapshot) error {
	e.mu.Lock()
	cur, ok := e.series[key]
	created := ok && cur.created && cur.name == s.name
	e.mu.Unlock()
	if !ok {
		return nil // forgotten meanwhile
	}
	var err error
	if created {
		err = e.patchSeries(ctx, s)
	} else {
		err = e.create(ctx, s)
		if apierrors.IsAlreadyExists(err) {
			err = e.patchSeries(ctx, s)
		}
	}
	if apierrors.IsNotFound(err) && created {
		// Expired or deleted by someone: start it again.
		err = e.create(ctx, s)
	}
	if err != nil {
		return err
	}
	e.mu.Lock()
	if cur, ok := e.series[key]; ok && cur.name == s.name {
		cur.created = true
	}
	e.mu.Unlock()
	return nil
}

func (e *Events) create(ctx context.Context, s seriesSnapshot) error {
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: s.name, Namespace: namespaceOf(s.regarding)},
		EventTime:           metav1.NewMicroTime(s.first.Time),
		ReportingController: ReportingController,
		ReportingInstance:   model.Clean(e.node, 128),
		Action:              model.Clean(s.first.Action, 128),
		Reason:              model.Clean(s.first.Reason, 128),
		Note:                model.Clean(s.first.Note, model.MaxNoteBytes),
		Type:                s.first.EventType(),
		Regarding:           s.regarding,
	}
	if s.count > 1 {
		ev.Series = &eventsv1.EventSeries{Count: int32(min(s.count, 1<<31-1)), LastObservedTime: metav1.NewMicroTime(s.last)}
	}
	return e.client.Create(ctx, ev)
}

func (e *Events) patchSeries(ctx context.Context, s seriesSnapshot) error {
	if s.count < 2 {
		return nil // the Event as created already says it all
	}
	patch, err := json.Marshal(map[string]any{"series": eventsv1.EventSeries{
		Count: int32(min(s.count, 1<<31-1)), LastObservedTime: metav1.NewMicroTime(s.last),
	}})
	if err != nil {
		return err
	}
	ev := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: namespaceOf(s.regarding)}}
	return e.client.Patch(ctx, ev, client.RawPatch(types.MergePatchType, patch))
}

// namespaceOf is where an Event about the object lives: its own namespace,
// or "default" for cluster-scoped objects such as Nodes.
func namespaceOf(ref corev1.ObjectReference) string {
	if ref.Namespace == "" {
		return metav1.NamespaceDefault
	}
	return ref.Namespace
}
