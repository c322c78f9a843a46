package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// knownEventsPageSize is how many Events one page of the start-up list
// holds (client-go's reflectors use the same): a page is a few hundred
// KiB of metadata, garbage once its names are taken.
const knownEventsPageSize = 500

// knownEvents is the set of transition Events that exist, by namespace and
// name, so that the recorder POSTs only those that may be missing.
//
// Before its first create, a controller lists the transition Events once:
// metadata only, paginated, by LabelConditionType, in every namespace.
// After that it adds what it creates itself; as the leader, it is the only
// writer. A restarted controller thus no longer re-creates every Event of
// the repair window to learn, one AlreadyExists at a time, that it exists
// (15,000 POSTs and five minutes at 50 requests/s with 10,000 VMs).
//
// Safe for "once per flip": a name in the set is an Event the API server
// has, so skipping it loses nothing; a name not in it (the Event a crash
// between the status patch and the create left missing, one a previous
// leader wrote after the list) is POSTed, and its deterministic name still
// makes a second create fail with AlreadyExists.
//
// Why not an informer on Events? It would hold every transition Event of
// the last hour (the API server's event TTL) and a watch for the life of
// the process, to answer a question that only matters once, at start.
type knownEvents struct {
	reader client.Reader
	window time.Duration

	mu sync.Mutex
	// at is, for each Event, a time no earlier than its transition: the
	// entry is dropped once that is outside the repair window.
	at        map[types.NamespacedName]time.Time
	lastPrune time.Time

	// loadMu serialises the start-up list: the workers that need it wait
	// for the one doing it instead of each listing.
	loadMu sync.Mutex
	loaded bool
}

func newKnownEvents(reader client.Reader, window time.Duration) *knownEvents {
	return &knownEvents{reader: reader, window: window, at: map[types.NamespacedName]time.Time{}}
}

// exists says whether the Event named key is known to exist, listing the
// existing ones first if this process has not yet.
func (k *knownEvents) exists(ctx context.Context, key types.NamespacedName, now time.Time) (bool, error) {
	if k.has(key) {
		return true, nil
	}
	if err := k.load(ctx, now); err != nil {
		return false, err
	}
	return k.has(key), nil
}

func (k *knownEvents) has(key types.NamespacedName) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.at[key]
	return ok
}

// add records that the Event named key exists, for the transition at at.
func (k *knownEvents) add(key types.NamespacedName, at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.at[key] = at
}

// prune forgets Events older than the window, at most once a minute, so
// the memory stays proportional to recent transitions.
func (k *knownEvents) prune(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastPrune) < time.Minute {
		return
	}
	k.lastPrune = now
	for key, at := range k.at {
		if now.Sub(at) > k.window {
			delete(k.at, key)
		}
	}
}

// load adds the transition Events that exist to the set, once per process.
// A failed list is tried again by the next call (the reconcile fails and
// is retried); the pages read before the failure stay, they are true.
func (k *knownEvents) load(ctx context.Context, now time.Time) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	if k.loaded {
		return nil
	}
	log := ctrl.LoggerFrom(ctx)
	start := time.Now()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("EventList"))
	added, pages := 0, 0
	for {
		err := k.reader.List(ctx, list, client.HasLabels{LabelConditionType},
			client.Limit(knownEventsPageSize), client.Continue(list.Continue))
		if apierrors.IsForbidden(err) {
			// A role older than this binary (no list on Events): work as
			// before, learning from AlreadyExists, rather than not at all.
			log.Error(err, "cannot list the existing transition Events; a restart will re-create each recent one (grant list on core events, config/rbac)")
			k.loaded = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the existing transition Events: %w", err)
		}
		pages++
		for i := range list.Items {
			// The creation time, not the transition's (metadata has no
			// eventTime): the Event was created after its transition, so
			// the entry stays as long as ensure looks at it (clock skew
			// between controller and API server may end it early: one
			// AlreadyExists).
			created := list.Items[i].CreationTimestamp.Time
			if now.Sub(created) > k.window {
				continue
			}
			k.add(types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}, created)
			added++
		}
		if list.Continue == "" {
			break
		}
	}
	k.loaded = true
	log.Info("listed the existing transition Events", "recent", added, "pages", pages, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
