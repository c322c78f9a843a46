// Package heartbeat is the contract between the node agent and the
// controller about the agent's liveness: each agent keeps one
// coordination.k8s.io/v1 Lease, and the controller reads it to tell "the
// monitor is connected" from "nobody has said anything for a while".
//
// The agent cannot report its own death, so the Lease is the only way the
// controller learns that facts on a VirtualMachine have stopped being
// current. Both sides import this package so the name, the label and the
// staleness rule cannot drift apart.
package heartbeat

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
)

const (
	// DefaultNamespace is where agents keep their Leases unless told otherwise.
	DefaultNamespace = "vmevents-system"

	// NodeLabel is set on every agent Lease; its value is the node name
	// (LabelValue). The controller only watches Leases that carry it, which
	// keeps the leader election Lease (renewed every few seconds) out of
	// its cache.
	NodeLabel = "vmevents.dev/agent-node"

	// DefaultDuration is the leaseDurationSeconds an agent writes: how long
	// the Lease stays valid after a renewal.
	DefaultDuration = 40 * time.Second

	// DefaultRenewInterval is how often an agent renews its Lease: a quarter
	// of DefaultDuration, so three renewals in a row may fail before the
	// Lease lapses.
	DefaultRenewInterval = 10 * time.Second

	leasePrefix = "vmevents-agent-"
	// maxNameLength is the limit of a Lease name (a DNS subdomain).
	maxNameLength = 253
	// maxLabelLength is the limit of a label value.
	maxLabelLength = 63
)

// hashSuffix is "-" and the first 16 hex digits of node's SHA-256: what
// tells two long node names apart once they are shortened.
func hashSuffix(node string) string {
	sum := sha256.Sum256([]byte(node))
	return "-" + hex.EncodeToString(sum[:])[:16]
}

// LeaseName is the name of the Lease the agent on node keeps:
// "vmevents-agent-<node>". Node names up to 238 characters are used as they
// are; longer ones are shortened and suffixed with a hash so the name stays a
// valid, still unique, object name.
func LeaseName(node string) string {
	name := leasePrefix + node
	if len(name) <= maxNameLength {
		return name
	}
	suffix := hashSuffix(node)
	return name[:maxNameLength-len(suffix)] + suffix
}

// LabelValue is the NodeLabel value of node's Lease: the node name when it
// fits a label value (63 characters), otherwise its first characters and a
// hash, still unique. A node name may have up to 253 characters; an
// apiserver refuses a longer label value, and with it the Lease.
func LabelValue(node string) string {
	if len(node) <= maxLabelLength {
		return node
	}
	suffix := hashSuffix(node)
	// A label value must end with an alphanumeric character: the hash
	// does, and what precedes it may not end with '.' before the '-'.
	return strings.TrimRight(node[:maxLabelLength-len(suffix)], ".-") + suffix
}

// Labels are the labels an agent Lease carries.
func Labels(node string) map[string]string {
	return map[string]string{NodeLabel: LabelValue(node)}
}

// Node returns the node an agent Lease belongs to: its holderIdentity when
// the Lease is named after it (the full name, however long), else its
// NodeLabel; false when the Lease is not an agent Lease.
func Node(lease *coordinationv1.Lease) (string, bool) {
	if lease == nil {
		return "", false
	}
	if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" &&
		LeaseName(*lease.Spec.HolderIdentity) == lease.Name {
		return *lease.Spec.HolderIdentity, true
	}
	if n := lease.Labels[NodeLabel]; n != "" {
		return n, true
	}
	return "", false
}

// StaleAt is the moment the Lease goes stale: its last renewal (or
// acquisition) plus its duration plus grace. The grace absorbs clock skew
// between the agent's node and the reader and a slow API server. It returns
// false when the Lease has never been renewed, which counts as stale at once.
func StaleAt(lease *coordinationv1.Lease, grace time.Duration) (time.Time, bool) {
	last, ok := LastRenewal(lease)
	if !ok {
		return time.Time{}, false
	}
	duration := DefaultDuration
	if s := lease.Spec.LeaseDurationSeconds; s != nil && *s > 0 {
		duration = time.Duration(*s) * time.Second
	}
	return last.Add(duration).Add(grace), true
}

// LastRenewal is when the Lease was last renewed, or acquired if it never
// was; false for a nil Lease or one that has neither.
func LastRenewal(lease *coordinationv1.Lease) (time.Time, bool) {
	switch {
	case lease == nil:
		return time.Time{}, false
	case lease.Spec.RenewTime != nil:
		return lease.Spec.RenewTime.Time, true
	case lease.Spec.AcquireTime != nil:
		return lease.Spec.AcquireTime.Time, true
	}
	return time.Time{}, false
}

// Stale reports whether the Lease has not been renewed within its duration
// plus grace at now. A nil Lease, or one never renewed, is stale.
func Stale(lease *coordinationv1.Lease, now time.Time, grace time.Duration) bool {
	at, ok := StaleAt(lease, grace)
	return !ok || !now.Before(at)
}
