package controllers

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A new process (a new leader) finds the Events of the previous one and
// creates only those missing.
func TestEventRecorderRestart(t *testing.T) {
	events := schema.GroupResource{Group: corev1.GroupName, Resource: "events"}
	cases := []struct {
		name string
		// crash deletes the GuestPanicked Event, as if the previous
		// process died between the status patch and the create.
		crash    bool
		listErrs []error
		// wantErr: the first ensure fails (and creates nothing); the
		// second one succeeds.
		wantErr                bool
		wantCreates, wantLists int
	}{
		{name: "every Event exists", wantCreates: 0, wantLists: 1},
		{name: "one lost between the status patch and the create", crash: true, wantCreates: 1, wantLists: 1},
		{name: "the list fails: retried by the next reconcile", crash: true,
			listErrs: []error{apierrors.NewInternalError(errors.New("etcd timeout"))}, wantErr: true, wantCreates: 1, wantLists: 2},
		{name: "no list permission: AlreadyExists does the work", crash: true,
			listErrs: []error{apierrors.NewForbidden(events, "", errors.New("RBAC"))}, wantCreates: 2, wantLists: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := newFakeAPI(t0)
			vm, conds := recorderVM()
			if err := newEventRecorder(api, api, "pod-1", 15*time.Minute).ensure(context.Background(), vm, conds, t0); err != nil {
				t.Fatal(err)
			}
			if c.crash {
				lost := transitionEvent(vm, conds[0], "Warning", "pod-1")
				if err := api.Delete(context.Background(), lost); err != nil {
					t.Fatal(err)
				}
			}
			api.creates, api.lists, api.listErrs = 0, 0, c.listErrs

			now := t0.Add(time.Minute)
			r := newEventRecorder(api, api, "pod-2", 15*time.Minute)
			err := r.ensure(context.Background(), vm, conds, now)
			if (err != nil) != c.wantErr {
				t.Fatalf("first ensure: err %v, want an error: %t", err, c.wantErr)
			}
			if err != nil && api.creates != 0 {
				t.Fatalf("%d creates before the list succeeded; want none", api.creates)
			}
			if err := r.ensure(context.Background(), vm, conds, now); err != nil {
				t.Fatal(err)
			}
			if api.creates != c.wantCreates || api.lists != c.wantLists || api.events(t) != 2 {
				t.Errorf("%d creates, %d lists, %d Events; want %d, %d and 2", api.creates, api.lists, api.events(t), c.wantCreates, c.wantLists)
			}
		})
	}
}

func TestKnownEventsLoad(t *testing.T) {
	window := 15 * time.Minute
	event := func(namespace, name string, age time.Duration) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
		}}
	}
	reader := &pagedEvents{pages: [][]metav1.PartialObjectMetadata{
		{event("a", "vm-1.1", time.Minute), event("a", "vm-1.2", time.Hour)},
		{event("b", "vm-1.1", 14*time.Minute)},
		{event("c", "vm-2.1", 0)},
	}}
	k := newKnownEvents(reader, window)
	if err := k.load(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if err := k.load(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if len(reader.calls) != 3 {
		t.Fatalf("%d lists; want 3 (the three pages, once)", len(reader.calls))
	}
	for i, o := range reader.calls {
		if o.Namespace != "" || o.Limit != knownEventsPageSize || o.LabelSelector.String() != LabelConditionType {
			t.Errorf("list %d: namespace %q, limit %d, selector %q; want every namespace, %d, %q",
				i, o.Namespace, o.Limit, o.LabelSelector, knownEventsPageSize, LabelConditionType)
		}
		if want := []string{"", "1", "2"}[i]; o.Continue != want {
			t.Errorf("list %d continues from %q, want %q", i, o.Continue, want)
		}
	}
	for key, want := range map[types.NamespacedName]bool{
		{Namespace: "a", Name: "vm-1.1"}: true,
		{Namespace: "a", Name: "vm-1.2"}: false, // older than the window
		{Namespace: "b", Name: "vm-1.1"}: true,
		{Namespace: "c", Name: "vm-2.1"}: true,
		{Namespace: "c", Name: "vm-1.1"}: false, // the same name elsewhere
	} {
		if got := k.has(key); got != want {
			t.Errorf("%s known: %t, want %t", key, got, want)
		}
	}
	// The loaded entries leave with their window.
	k.prune(t0.Add(window + time.Second))
	if k.has(types.NamespacedName{Namespace: "c", Name: "vm-2.1"}) {
		t.Errorf("an Event out of the window is still known")
	}
}

// pagedEvents serves Event metadata in pages, with limit and continue as
// the API server does, and records each list's options.
type pagedEvents struct {
	pages [][]metav1.PartialObjectMetadata
	calls []*client.ListOptions
}

func (p *pagedEvents) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("pagedEvents only lists")
}

func (p *pagedEvents) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	p.calls = append(p.calls, o)
	page := 0
	if o.Continue != "" {
		var err error
		if page, err = strconv.Atoi(o.Continue); err != nil {
			return err
		}
	}
	l, ok := list.(*metav1.PartialObjectMetadataList)
	if !ok {
		return errors.New("pagedEvents only serves metadata")
	}
	l.Items, l.Continue = p.pages[page], ""
	if page+1 < len(p.pages) {
		l.Continue = strconv.Itoa(page + 1)
	}
	return nil
}
