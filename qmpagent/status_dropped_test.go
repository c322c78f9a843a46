package qmpagent

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// The drops the core counts (a status refused as invalid, entries its own
// Bound leaves out) survive a source that tells its facts whole, as the
// QMP session does: its next snapshot carries its own delivery.dropped,
// and the core's are added on top, once, on every later write.
func TestCoreDropsSurviveWholeSnapshots(t *testing.T) {
	key := types.NamespacedName{Namespace: "default", Name: "vm-1"}
	refuse := 1 // how many status writes the apiserver refuses as invalid
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
		SubResourceApply: func(context.Context, client.Client, string, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
			if refuse > 0 {
				refuse--
				return apierrors.NewInvalid(schema.GroupKind{Group: vmv1.GroupVersion.Group, Kind: "VirtualMachine"}, key.Name,
					field.ErrorList{field.TooMany(field.NewPath("status", "displaySessions"), 65, 64)})
			}
			return nil
		},
	}).Build()
	a := &Agent{client: c, facts: map[types.NamespacedName]model.Facts{}}

	// session is what a QMP session tells: its facts whole, with the drops
	// it counted itself (the sink replaces the agent's copy but keeps the
	// devices another source told).
	session := func(offset, dropped int64) func(*model.Facts) {
		return func(cur *model.Facts) {
			resources := cur.Resources
			*cur = model.Facts{RTCOffsetSeconds: &offset, Delivery: model.Delivery{Dropped: dropped}}
			cur.Resources = resources
		}
	}
	manyDisks := func(cur *model.Facts) {
		for i := range model.MaxResourceItems + 4 {
			cur.Resources.Disks = append(cur.Resources.Disks, fmt.Sprintf("vd%d", i))
		}
	}
	steps := []struct {
		name    string
		do      func()
		dropped int64 // delivery.dropped of the next write
	}{
		{"the session's first snapshot", func() { a.updateFacts(key, session(1, 2)) }, 2},
		{"a write refused as invalid", func() {
			f, _ := a.updateFacts(key, func(*model.Facts) {})
			if err := a.writeStatus(context.Background(), key, f); err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"the session's next snapshot", func() { a.updateFacts(key, session(2, 2)) }, 3},
		{"4 disks past the cap from another source", func() { a.updateFacts(key, manyDisks) }, 7},
		{"the session's next snapshot again", func() { a.updateFacts(key, session(3, 5)) }, 10},
		{"an update that changes nothing counted", func() { a.updateFacts(key, func(f *model.Facts) { f.RunState = vmv1.RunStateRunning }) }, 10},
	}
	for _, step := range steps {
		step.do()
		f, _ := a.updateFacts(key, func(*model.Facts) {})
		if got := f.Delivery.Dropped; got != step.dropped {
			t.Fatalf("after %s: delivery.dropped = %d, want %d", step.name, got, step.dropped)
		}
	}

	// A VM the agent forgot starts again from its status, which holds
	// every drop written: they are not counted twice.
	a.factsMu.Lock()
	delete(a.facts, key)
	a.factsMu.Unlock()
	if f, _ := a.updateFacts(key, func(*model.Facts) {}); f.Delivery.Dropped != 0 {
		t.Errorf("a forgotten VM starts with delivery.dropped = %d from the core, want only its status's (0 here)", f.Delivery.Dropped)
	}
}
