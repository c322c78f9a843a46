package qmpagent_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// apiWrites counts, per VM, what an agent writes to the real apiserver
// through its own client: status applies, those the apiserver refused, and
// Event creates and patches about the VM. The suite's metrics are shared
// by every agent of the process; these counts are one VM's.
type apiWrites struct {
	mu      sync.Mutex
	status  map[string]int
	refused map[string]int
	events  map[string]int
}

func newAPIWrites() *apiWrites {
	return &apiWrites{status: map[string]int{}, refused: map[string]int{}, events: map[string]int{}}
}

// newClient is the agent's client.NewClientFunc: the manager's client, its
// writes counted.
func (w *apiWrites) newClient(config *rest.Config, options client.Options) (client.Client, error) {
	c, err := client.NewWithWatch(config, options)
	if err != nil {
		return nil, err
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			err := c.SubResource(sub).Apply(ctx, obj, opts...)
			w.count(w.status, appliedName(obj), 1)
			if err != nil {
				w.count(w.refused, appliedName(obj), 1)
			}
			return err
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if ev, ok := obj.(*corev1.Event); ok {
				w.count(w.events, ev.InvolvedObject.Name, 1)
			}
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*corev1.Event); ok {
				// An Event's name is its object's, a dot and a hash.
				name := obj.GetName()
				w.count(w.events, name[:max(0, strings.LastIndex(name, "."))], 1)
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}), nil
}

func (w *apiWrites) count(m map[string]int, key string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m[key] += n
}

// of returns a function reading one of the counts of a VM.
func (w *apiWrites) of(m map[string]int, vm string) func() int {
	return func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		return m[vm]
	}
}

// appliedName is the name of the object a server-side apply is for.
func appliedName(obj runtime.ApplyConfiguration) string {
	data, err := json.Marshal(obj)
	if err != nil {
		return ""
	}
	var meta struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(data, &meta)
	return meta.Metadata.Name
}
