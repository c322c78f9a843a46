package qmpagent

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// writeSeries makes the apiserver's Event say s and returns the count it
// holds now.
func (e *Events) writeSeries(ctx context.Context, key string, s seriesSnapshot) (int64, error) {
	e.mu.Lock()
	cur, ok := e.series[key]
	if ok && cur.name == s.Name {
		// The newest count, not the one queued: counts only grow, and an
		// older snapshot written after a newer one (a retry, a value queued
		// before adopt) would lower the Event's.
		s = cur.snapshot()
	}
	created := ok && cur.created && cur.name == s.Name
	restored := ok && cur.restored > 0 && cur.name == s.Name
	e.mu.Unlock()
	if !ok {
		return 0, nil // forgotten meanwhile
	}
	var err error
	if created {
		err = e.patchSeries(ctx, s)
	} else {
		err = e.create(ctx, s)
		if apierrors.IsAlreadyExists(err) {
			if restored {
				s, err = e.adopt(ctx, key, s)
			}
			if err == nil {
				err = e.patchSeries(ctx, s)
			}
		}
	}
	if apierrors.IsNotFound(err) && created {
		// Expired or deleted by someone: start it again.
		err = e.create(ctx, s)
	}
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	if cur, ok := e.series[key]; ok && cur.name == s.Name {
		cur.created, cur.restored = true, 0
	}
	e.mu.Unlock()
	return s.Count, nil
}

// adopt takes up a series restored from the spool whose Event exists: the
// run that kept it may have written a higher count before it died, and that
// count already includes every occurrence the file has. Taking the higher
// of the two keeps the series exact; taking the file's would lower it.
func (e *Events) adopt(ctx context.Context, key string, s seriesSnapshot) (seriesSnapshot, error) {
	var ev eventsv1.Event
	err := e.client.Get(ctx, types.NamespacedName{Namespace: namespaceOf(s.Regarding), Name: s.Name}, &ev)
	if apierrors.IsForbidden(err) {
		return s, nil // an older ClusterRole without get: the file's count it is
	}
	if err != nil {
		return s, err
	}
	held, last := int64(1), ev.EventTime.Time
	if ev.Series != nil {
		held, last = int64(ev.Series.Count), ev.Series.LastObservedTime.Time
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, ok := e.series[key]
	if !ok || cur.name != s.Name || held <= cur.restored {
		return s, nil
	}
	// The occurrences since the restore come on top of what the Event holds.
	cur.count += held - cur.restored
	if last.After(cur.last) {
		cur.last = last
	}
	cur.restored = 0
	return cur.snapshot(), nil
}

// SourceComponent names the agent in the deprecated source of its Events,
// which kubectl describe shows in its From column.
const SourceComponent = "vmevents-agent"

// Events are written through the core/v1 API, as events.k8s.io/v1 Events
// (eventTime, series, reporting controller and instance, action, note)
// together with the deprecated fields older readers go by: kubectl describe
// sorts Events by lastTimestamp and kubectl get events shows their count.
// The events.k8s.io/v1 API refuses those fields ("needs to be unset") and
// keeps them immutable; core/v1 takes both, and the same object reads the
// same through either API.

func (e *Events) create(ctx context.Context, s seriesSnapshot) error {
	count, last := seriesCountAndLast(s)
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: s.Name, Namespace: namespaceOf(s.Regarding)},
		InvolvedObject:      s.Regarding,
		EventTime:           metav1.NewMicroTime(s.First.Time),
		ReportingController: ReportingController,
		ReportingInstance:   model.Clean(e.node, 128),
		Action:              model.Clean(s.First.Action, 128),
		Reason:              model.Clean(s.First.Reason, 128),
		Message:             model.Clean(s.First.Note, model.MaxNoteBytes),
		Type:                s.First.EventType(),
		// For older readers: the same times, count and reporter.
		Source:         corev1.EventSource{Component: SourceComponent, Host: model.Clean(e.node, 253)},
		FirstTimestamp: metav1.NewTime(s.First.Time),
		LastTimestamp:  metav1.NewTime(last),
		Count:          count,
	}
	if s.Count > 1 {
		ev.Series = &corev1.EventSeries{Count: count, LastObservedTime: metav1.NewMicroTime(last)}
	}
	return e.client.Create(ctx, ev)
}

// seriesCountAndLast is the count an Event can hold (an int32) and the
// time of its last occurrence.
func seriesCountAndLast(s seriesSnapshot) (int32, time.Time) {
	last := s.Last
	if last.Before(s.First.Time) {
		last = s.First.Time
	}
	return int32(min(max(s.Count, 1), 1<<31-1)), last
}

func (e *Events) patchSeries(ctx context.Context, s seriesSnapshot) error {
	if s.Count < 2 {
		return nil // the Event as created already says it all
	}
	count, last := seriesCountAndLast(s)
	patch, err := json.Marshal(map[string]any{
		"series":        corev1.EventSeries{Count: count, LastObservedTime: metav1.NewMicroTime(last)},
		"count":         count,
		"lastTimestamp": metav1.NewTime(last),
	})
	if err != nil {
		return err
	}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: namespaceOf(s.Regarding)}}
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

// restoredBase is the part of a kept series' count the apiserver may hold.
func restoredBase(snap seriesSnapshot) int64 {
	if snap.Restored > 0 {
		return snap.Restored // an earlier run restored it too and died before reaching the apiserver
	}
	return snap.Count
}

// UseSpool keeps series in dir (see seriesSpool: every series as soon as
// it changes, until the apiserver holds it) and queues the ones an earlier
// run of the agent kept there: an occurrence the agent read survives its
// restart (SIGKILL included), an apiserver outage, or both. The Event
// names are those of the first attempt, so nothing is published twice.
// onError is told what the spool could not keep. Call it before Run.
func (e *Events) UseSpool(dir string, maxEntries int, onError func(error)) ([]error, error) {
	spool, err := newSeriesSpool(dir, maxEntries, onError)
	if err != nil {
		return nil, err
	}
	kept, errs := spool.load()
	e.mu.Lock()
	e.spool = spool
	for key, snap := range kept {
		suppressed := snap.First.Reason == SuppressedReason
		if !suppressed {
			e.open[capKey(objectKey(snap.Regarding), snap.First.Warning)]++
		}
		e.series[key] = &series{suppressed: suppressed, regarding: snap.Regarding, first: snap.First, name: snap.Name, count: snap.Count, last: snap.Last, restored: restoredBase(snap)}
	}
	e.mu.Unlock()
	for key, snap := range kept {
		e.writer.Put(key, snap)
	}
	return errs, nil
}
