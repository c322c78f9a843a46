package qmpagent

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// CacheOptions are the manager's cache and client settings the agent needs:
// it caches only its node's VMs (filtered by the apiserver, so the cache stays
// small however many VMs the cluster has) and reads nothing else through
// informers, since it may neither list Leases nor read Events.
func CacheOptions(node string) (cache.Options, client.Options) {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
			&vmv1.VirtualMachine{}: {Field: fields.OneTermEqualSelector("spec.nodeName", node)},
		}}, client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&coordinationv1.Lease{}, &eventsv1.Event{}},
		}}
}
