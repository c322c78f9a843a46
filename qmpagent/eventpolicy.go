package qmpagent

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// DefaultSilenceEvents are the occurrences that are noise by nature and
// become no Event unless a VM keeps them (spec.eventPolicy.keep): a guest's
// NTP stepping its clock, a balloon driver resizing, every step of a block
// job. They are still counted (status.eventCounts, delivery.silenced). The
// agent's --silence-events default.
var DefaultSilenceEvents = []string{"RTC_CHANGE", "BALLOON_CHANGE", "JOB_STATUS_CHANGE"}

// Silences reports whether occ becomes no Event, under the agent's default
// silence list and a VM's policy (nil for an occurrence about the node, or
// a VM without one). A name matches the occurrence's Action (the QMP event
// name, LXD action, libvirt action) or its Reason, case
// aside (RTC_CHANGE, RTCChange and RtcChange are one). The policy's types
// filter first; then its silence list wins over its keep list, which wins
// over the default; and the default never silences a fault (a Warning).
func Silences(defaults []string, policy *vmv1.EventPolicy, occ model.Occurrence) bool {
	if policy != nil {
		if len(policy.Types) > 0 && !slices.Contains(policy.Types, occ.EventType()) {
			return true
		}
		if names(policy.Silence, occ) {
			return true
		}
		if names(policy.Keep, occ) {
			return false
		}
	}
	return !occ.Warning && names(defaults, occ)
}

// names reports whether one of list names occ.
func names(list []string, occ model.Occurrence) bool {
	for _, n := range list {
		if n != "" && (strings.EqualFold(n, occ.Action) || strings.EqualFold(n, occ.Reason)) {
			return true
		}
	}
	return false
}

// rememberPolicy keeps a followed VM's spec.eventPolicy for Publish.
func (a *Agent) rememberPolicy(key types.NamespacedName, policy *vmv1.EventPolicy) {
	a.factsMu.Lock()
	defer a.factsMu.Unlock()
	if a.policies == nil {
		a.policies = map[types.NamespacedName]*vmv1.EventPolicy{}
	}
	a.policies[key] = policy
}

// policyOf is the event policy of what an occurrence is about: none for
// the node; a VM's as the agent last reconciled it, else (a source told of
// it first) as the cache has it.
func (a *Agent) policyOf(regarding corev1.ObjectReference) *vmv1.EventPolicy {
	key, ok := vmKey(regarding)
	if !ok {
		return nil
	}
	a.factsMu.Lock()
	policy, known := a.policies[key]
	a.factsMu.Unlock()
	if known {
		return policy
	}
	ctx, cancel := context.WithTimeout(context.Background(), cacheReadTimeout)
	defer cancel()
	var vm vmv1.VirtualMachine
	if err := a.client.Get(ctx, key, &vm); err != nil {
		return nil
	}
	return vm.Spec.EventPolicy
}

// countSilenced counts n occurrences the policy silenced in a VM's
// delivery.silenced: kept apart from its facts (as countDroppedLocked
// explains), written with its next status write.
func (a *Agent) countSilenced(key types.NamespacedName, n int64) {
	a.UpdateFacts(key, func(*model.Facts) {
		// Under factsMu: UpdateFacts runs its update with the lock held.
		if a.silenced == nil {
			a.silenced = map[types.NamespacedName]int64{}
		}
		a.silenced[key] += n
	})
}

// vmKey is the key of the VirtualMachine regarding refers to, if it does.
func vmKey(regarding corev1.ObjectReference) (types.NamespacedName, bool) {
	if regarding.Kind != "VirtualMachine" || regarding.APIVersion != vmv1.GroupVersion.String() {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: regarding.Namespace, Name: regarding.Name}, true
}
