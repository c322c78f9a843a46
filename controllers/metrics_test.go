package controllers

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

// vmConditionSeries lists vmConditionGauge's series as
// "namespace/name type status reason", sorted.
func vmConditionSeries(t *testing.T) []string {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	go func() { vmConditionGauge.Collect(ch); close(ch) }()
	var out []string
	for m := range ch {
		l := labelsOf(t, m)
		out = append(out, l["namespace"]+"/"+l["name"]+" "+l["type"]+" "+l["status"]+" "+l["reason"])
	}
	sort.Strings(out)
	return out
}

// labelsOf is m's label set.
func labelsOf(t *testing.T, m prometheus.Metric) map[string]string {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	l := map[string]string{}
	for _, p := range d.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason}
}

func TestVMConditionSeries(t *testing.T) {
	a := types.NamespacedName{Namespace: "ns1", Name: "a"}
	b := types.NamespacedName{Namespace: "ns2", Name: "b"}
	type step struct {
		vm     types.NamespacedName
		conds  []metav1.Condition
		forget bool // the VM was deleted
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{{
		name: "only the alerted conditions are exported per VM",
		steps: []step{{vm: a, conds: []metav1.Condition{
			cond(vmv1.ConditionReady, metav1.ConditionFalse, vmv1.ReasonNotRunning),
			cond(vmv1.ConditionPaused, metav1.ConditionTrue, vmv1.ReasonGuestPanicked),
			cond(vmv1.ConditionGuestPanicked, metav1.ConditionTrue, vmv1.ReasonPause),
			cond(vmv1.ConditionMonitorConnected, metav1.ConditionTrue, vmv1.ReasonConnected),
		}}},
		want: []string{"ns1/a GuestPanicked True Pause", "ns1/a MonitorConnected True Connected"},
	}, {
		name: "a changed status or reason replaces the VM's series",
		steps: []step{
			{vm: a, conds: []metav1.Condition{cond(vmv1.ConditionGuestPanicked, metav1.ConditionTrue, vmv1.ReasonPause)}},
			{vm: a, conds: []metav1.Condition{cond(vmv1.ConditionGuestPanicked, metav1.ConditionFalse, vmv1.ReasonRecovered)}},
		},
		want: []string{"ns1/a GuestPanicked False Recovered"},
	}, {
		name: "a deleted VM's series go, the others stay",
		steps: []step{
			{vm: a, conds: []metav1.Condition{cond(vmv1.ConditionIOError, metav1.ConditionTrue, vmv1.ReasonPausedOnError)}},
			{vm: b, conds: []metav1.Condition{cond(vmv1.ConditionIOError, metav1.ConditionTrue, vmv1.ReasonPausedOnError)}},
			{vm: a, forget: true},
		},
		want: []string{"ns2/b IOError True PausedOnError"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConditionCounter()
			for _, s := range tt.steps {
				if s.forget {
					c.forget(s.vm)
				} else {
					c.set(s.vm, s.conds)
				}
			}
			if got := vmConditionSeries(t); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLeaseAgesAt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lease := func(node string, renew, acquire *time.Time) coordinationv1.Lease {
		l := coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: heartbeat.LeaseName(node), Labels: heartbeat.Labels(node)}}
		l.Spec.HolderIdentity = ptr.To(node)
		if renew != nil {
			l.Spec.RenewTime = &metav1.MicroTime{Time: *renew}
		}
		if acquire != nil {
			l.Spec.AcquireTime = &metav1.MicroTime{Time: *acquire}
		}
		return l
	}
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	notAgent := coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "leader-election"}}
	notAgent.Spec.RenewTime = &metav1.MicroTime{Time: now}

	tests := []struct {
		name   string
		leases []coordinationv1.Lease
		want   map[string]float64
	}{
		{"renewed", []coordinationv1.Lease{lease("n1", at(90*time.Second), at(time.Hour))}, map[string]float64{"n1": 90}},
		{"acquired, never renewed", []coordinationv1.Lease{lease("n1", nil, at(5*time.Second))}, map[string]float64{"n1": 5}},
		{"neither: no age", []coordinationv1.Lease{lease("n1", nil, nil)}, map[string]float64{}},
		{"not an agent Lease", []coordinationv1.Lease{notAgent}, map[string]float64{}},
		{"one per node", []coordinationv1.Lease{lease("n1", at(time.Second), nil), lease("n2", at(time.Minute), nil)}, map[string]float64{"n1": 1, "n2": 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := leaseAgesAt(tt.leases, now)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for n, w := range tt.want {
				if got[n] != w {
					t.Errorf("node %s: age %v, want %v", n, got[n], w)
				}
			}
		})
	}
}
