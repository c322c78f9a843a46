package qmpagent

import (
	"context"
	"maps"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

// Heartbeat renews the node's agent Lease, so the controller can tell an
// agent that stopped reporting from one that has nothing to say.
type Heartbeat struct {
	// Client reads the Lease (uncached: the agent may not list Leases).
	Client client.Reader
	// Writer creates and updates it.
	Writer    client.Writer
	Node      string
	Namespace string
	// Interval between renewals; heartbeat.DefaultRenewInterval when zero.
	Interval time.Duration

	// last is the Lease as the last write left it. A renewal updates it
	// without reading first, as the kubelet does with its node Lease: one
	// request per renewal instead of two, which is most of what an idle node
	// costs the apiserver (docs/benchmarks.md, scenario 7). Only Start's
	// goroutine uses it.
	last *coordinationv1.Lease
}

// NeedLeaderElection is false: every node's agent beats.
func (h *Heartbeat) NeedLeaderElection() bool { return false }

// Start renews the Lease until ctx ends.
func (h *Heartbeat) Start(ctx context.Context) error {
	interval := h.Interval
	if interval <= 0 {
		interval = heartbeat.DefaultRenewInterval
	}
	log := ctrl.Log.WithName("heartbeat")
	for {
		start := time.Now()
		err := h.renew(ctx)
		observe("lease")(time.Since(start), err)
		if err != nil && ctx.Err() == nil {
			log.Error(err, "renewing the agent Lease", "namespace", h.Namespace, "name", heartbeat.LeaseName(h.Node))
		}
		if !backoff.Sleep(ctx, interval) {
			return nil
		}
	}
}

// renew writes the renewal over the Lease the last write left. When that
// write is refused because someone else changed or deleted the Lease, it
// reads the Lease and writes again; after any other failure, whose outcome
// is unknown, the next renewal reads first.
func (h *Heartbeat) renew(ctx context.Context) error {
	now := metav1.NewMicroTime(time.Now())
	if h.last != nil {
		lease := h.last
		h.last = nil
		if err := h.update(ctx, lease, now); !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	var lease coordinationv1.Lease
	err := h.Client.Get(ctx, client.ObjectKey{Namespace: h.Namespace, Name: heartbeat.LeaseName(h.Node)}, &lease)
	if apierrors.IsNotFound(err) {
		lease = coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: h.Namespace, Name: heartbeat.LeaseName(h.Node), Labels: heartbeat.Labels(h.Node)},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(h.Node),
				LeaseDurationSeconds: ptr.To(int32(heartbeat.DefaultDuration / time.Second)),
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		if err := h.Writer.Create(ctx, &lease); err != nil {
			return err
		}
		h.last = &lease
		return nil
	}
	if err != nil {
		return err
	}
	return h.update(ctx, &lease, now)
}

// update renews lease as of now and remembers it when the write succeeds.
// It puts the agent labels back too: without them the controller, which
// caches only labelled Leases, would take the Lease for gone.
func (h *Heartbeat) update(ctx context.Context, lease *coordinationv1.Lease, now metav1.MicroTime) error {
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	maps.Copy(lease.Labels, heartbeat.Labels(h.Node))
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(h.Node)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(heartbeat.DefaultDuration / time.Second))
	if err := h.Writer.Update(ctx, lease); err != nil {
		return err
	}
	h.last = lease
	return nil
}
