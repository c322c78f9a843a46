package heartbeat

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func TestLeaseName(t *testing.T) {
	if got := LeaseName("node-1"); got != "vmevents-agent-node-1" {
		t.Fatalf("LeaseName(node-1) = %q", got)
	}
	long := strings.Repeat("a", 253)
	other := strings.Repeat("a", 252) + "b"
	n1, n2 := LeaseName(long), LeaseName(other)
	if len(n1) > 253 || len(validation.IsDNS1123Subdomain(n1)) > 0 {
		t.Fatalf("LeaseName of a 253-character node is not a valid name: %q", n1)
	}
	if n1 == n2 {
		t.Fatalf("two long node names share the Lease name %q", n1)
	}
}

// A node name may be a DNS subdomain of 253 characters; its Lease must
// still be valid, and the controller must find the node from it.
func TestLongNodeName(t *testing.T) {
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 190) + ".c"
	other := long[:252] + "d"
	if len(long) != 253 || len(validation.IsDNS1123Subdomain(long)) > 0 {
		t.Fatalf("bad test node name (%d characters)", len(long))
	}
	for _, node := range []string{"node-1", strings.Repeat("x", 63), long, long[:64], long[:60], strings.Repeat("a", 45) + "." + strings.Repeat("b", 30)} {
		v := Labels(node)[NodeLabel]
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label value for a %d-character node name is invalid: %q: %v", len(node), v, errs)
		}
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: LeaseName(node), Labels: Labels(node)},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node)},
		}
		if errs := validation.IsDNS1123Subdomain(lease.Name); len(errs) > 0 {
			t.Errorf("Lease name for a %d-character node name is invalid: %v", len(node), errs)
		}
		if got, ok := Node(lease); !ok || got != node {
			t.Errorf("Node() of the Lease of a %d-character node = %q, %v", len(node), got, ok)
		}
	}
	if Labels(long)[NodeLabel] == Labels(other)[NodeLabel] {
		t.Errorf("two long node names share the label value %q", Labels(long)[NodeLabel])
	}
	if got := Labels("node-1")[NodeLabel]; got != "node-1" {
		t.Errorf("a short node name is not its own label value: %q", got)
	}
}

func TestNode(t *testing.T) {
	cases := []struct {
		name  string
		lease *coordinationv1.Lease
		want  string
		ok    bool
	}{
		{"nil", nil, "", false},
		{"label", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: Labels("n1")}}, "n1", true},
		{"holder matching the name", &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: LeaseName("n2")},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("n2")},
		}, "n2", true},
		{"holder not matching the name", &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "vmevents-controller"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("pod-1")},
		}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Node(c.lease)
			if got != c.want || ok != c.ok {
				t.Fatalf("Node() = %q, %v; want %q, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestStale(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lease := func(renew *time.Time, acquire *time.Time, seconds *int32) *coordinationv1.Lease {
		l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: seconds}}
		if renew != nil {
			l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(*renew))
		}
		if acquire != nil {
			l.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(*acquire))
		}
		return l
	}
	grace := 20 * time.Second
	cases := []struct {
		name  string
		lease *coordinationv1.Lease
		now   time.Time
		stale bool
	}{
		{"nil lease", nil, t0, true},
		{"never renewed", lease(nil, nil, ptr.To[int32](40)), t0, true},
		{"just renewed", lease(&t0, nil, ptr.To[int32](40)), t0, false},
		{"inside the duration", lease(&t0, nil, ptr.To[int32](40)), t0.Add(39 * time.Second), false},
		{"inside the grace", lease(&t0, nil, ptr.To[int32](40)), t0.Add(59 * time.Second), false},
		{"at the end of the grace", lease(&t0, nil, ptr.To[int32](40)), t0.Add(60 * time.Second), true},
		{"long gone", lease(&t0, nil, ptr.To[int32](40)), t0.Add(time.Hour), true},
		{"no duration: the default", lease(&t0, nil, nil), t0.Add(DefaultDuration + grace - time.Millisecond), false},
		{"acquired, not renewed yet", lease(nil, &t0, ptr.To[int32](1)), t0.Add(time.Second), false},
		{"renewal in the future (skew)", lease(ptr.To(t0.Add(time.Minute)), nil, ptr.To[int32](40)), t0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Stale(c.lease, c.now, grace); got != c.stale {
				t.Fatalf("Stale() = %v, want %v", got, c.stale)
			}
		})
	}
}
