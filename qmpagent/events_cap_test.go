package qmpagent

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// TestEventSeriesCap floods the publisher as a guest writing the ACPI _OST
// register in a loop would: every occurrence distinct. The series held stay
// at the cap (plus the suppressed one), every occurrence is accounted for
// exactly, and the apiserver gets one Event per series.
func TestEventSeriesCap(t *testing.T) {
	const flood = 200000
	c := fake.NewClientBuilder().Build()
	e := NewEvents(c, "node-1")
	vm := corev1.ObjectReference{APIVersion: "vmevents.dev/v1alpha1", Kind: "VirtualMachine", Namespace: "default", Name: "web-1", UID: "u1"}
	other := corev1.ObjectReference{APIVersion: "vmevents.dev/v1alpha1", Kind: "VirtualMachine", Namespace: "default", Name: "web-2", UID: "u2"}
	t0 := time.Now()
	coalesced := 0
	for i := range flood {
		occ := model.Occurrence{Time: t0.Add(time.Duration(i) * time.Microsecond), Action: "ACPI_DEVICE_OST", Reason: "ACPIDeviceOST",
			Note: fmt.Sprintf("_OST status %d", i), Series: fmt.Sprintf("source-%d/status-%d", i, i)}
		if e.Publish(vm, occ) {
			coalesced++
		}
	}
	// Another VM keeps series of its own: the cap is per object.
	if e.Publish(other, model.Occurrence{Time: t0, Action: "RESET", Reason: "Reset"}) {
		t.Error("another VM's first occurrence was suppressed")
	}
	// A fault after the Normal flood still gets its own Event: each type
	// has its own cap.
	if e.Publish(vm, model.Occurrence{Time: t0, Action: "GUEST_PANICKED", Reason: "GuestPanicked", Warning: true}) {
		t.Error("a guest panic after an _OST flood was suppressed")
	}

	e.mu.Lock()
	held, open := len(e.series), e.open[capKey(objectKey(vm), false)]
	var suppressed *series
	for _, s := range e.series {
		if s.suppressed {
			suppressed = s
		}
	}
	e.mu.Unlock()
	if open != MaxSeriesPerObject || held != MaxSeriesPerObject+3 {
		t.Fatalf("%d series held, %d open for the flooded VM; want %d and %d", held, open, MaxSeriesPerObject+3, MaxSeriesPerObject)
	}
	if suppressed == nil || suppressed.count != flood-MaxSeriesPerObject {
		t.Fatalf("suppressed series %+v; want a count of %d", suppressed, flood-MaxSeriesPerObject)
	}
	if coalesced != flood-MaxSeriesPerObject {
		t.Errorf("%d occurrences reported coalesced, want %d", coalesced, flood-MaxSeriesPerObject)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var events corev1.EventList
	deadline := time.Now().Add(time.Minute)
	for {
		if err := c.List(ctx, &events, client.InNamespace("default")); err != nil {
			t.Fatal(err)
		}
		if total(events.Items) == flood+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(events.Items) != MaxSeriesPerObject+3 || total(events.Items) != flood+2 {
		t.Fatalf("%d Events counting %d occurrences; want %d counting %d", len(events.Items), total(events.Items), MaxSeriesPerObject+3, flood+2)
	}
	for _, ev := range events.Items {
		if ev.Reason == SuppressedReason && ev.Count != int32(flood-MaxSeriesPerObject) {
			t.Errorf("the %s Event counts %d, want %d", SuppressedReason, ev.Count, flood-MaxSeriesPerObject)
		}
	}
}

func total(events []corev1.Event) int {
	n := 0
	for _, ev := range events {
		n += int(ev.Count)
	}
	return n
}
