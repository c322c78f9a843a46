package qmpagent

import (
	"context"
	"encoding/json"
	"testing"
	"time"

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

// A status the apiserver refuses as Invalid is written once more without
// the fields the refusal names (every variable field when it names none),
// and, refused again, dropped: never retried as is, which would freeze the
// VM's status and every later fact with it.
func TestStatusRefusedAsInvalid(t *testing.T) {
	key := types.NamespacedName{Namespace: "default", Name: "vm-1"}
	invalid := func(causes ...*field.Error) error {
		return apierrors.NewInvalid(schema.GroupKind{Group: vmv1.GroupVersion.Group, Kind: "VirtualMachine"}, key.Name, causes)
	}
	tooMany := field.TooMany(field.NewPath("status", "displaySessions"), 65, 64)
	for _, tc := range []struct {
		name     string
		refusals []error // what the apiserver answers, one apply after another
		gone     []string
		applies  int
	}{
		{"a named field is left out", []error{invalid(tooMany), nil}, []string{"displaySessions"}, 2},
		{"no field named: every variable field is left out", []error{invalid(), nil}, variableFields, 2},
		{"refused again: dropped, not retried", []error{invalid(tooMany), invalid(tooMany)}, []string{"displaySessions"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var applied []map[string]any
			c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
				SubResourceApply: func(_ context.Context, _ client.Client, _ string, obj runtime.ApplyConfiguration, _ ...client.SubResourceApplyOption) error {
					data, err := json.Marshal(obj)
					if err != nil {
						t.Fatal(err)
					}
					var u map[string]any
					if err := json.Unmarshal(data, &u); err != nil {
						t.Fatal(err)
					}
					status, _ := u["status"].(map[string]any)
					applied = append(applied, status)
					if len(applied) > len(tc.refusals) {
						t.Fatalf("apply %d: retried past the refusals", len(applied))
					}
					return tc.refusals[len(applied)-1]
				},
			}).Build()
			a := &Agent{client: c, facts: map[types.NamespacedName]model.Facts{}}
			at := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
			f := model.Facts{
				RunState:    vmv1.RunStatePaused,
				LastPanic:   &model.Panic{Time: at, Action: "pause"},
				Display:     map[string]model.DisplaySession{"vnc/a": {Protocol: "vnc", Client: "a", Since: at}},
				EventCounts: map[string]int64{"GUEST_PANICKED": 1},
			}
			a.facts[key] = f

			if err := a.writeStatus(context.Background(), key, f); err != nil {
				t.Fatalf("writeStatus = %v, want nil: a refused status is not retried as is", err)
			}
			if len(applied) != tc.applies {
				t.Fatalf("%d applies, want %d", len(applied), tc.applies)
			}
			again := applied[1]
			for _, name := range tc.gone {
				if _, ok := again[name]; ok {
					t.Errorf("the second write still has status.%s", name)
				}
			}
			if _, ok := again["lastPanic"]; !ok {
				t.Error("the second write lost status.lastPanic: only the named fields may go")
			}
			if d := a.snapshotLocked(key, a.facts[key]).Delivery.Dropped; d != 1 {
				t.Errorf("delivery.dropped = %d, want 1", d)
			}
		})
	}
}
