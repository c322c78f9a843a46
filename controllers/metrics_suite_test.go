package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

// gaugeSamples is the value of each series of the gauge name whose labels
// include match, by the value of the label key.
func gaugeSamples(g Gomega, name, key string, match map[string]string) map[string]float64 {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue metric
				}
			}
			out[labels[key]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// The alerts of config/components/prometheus read these two metrics.
var _ = Describe("Metrics for alerts", func() {
	It("exports each agent Lease's age while the Lease exists", func() {
		node := "metrics-node"
		renewLease(node, time.Now().Add(-90*time.Second), 3600)
		Eventually(func(g Gomega) {
			g.Expect(gaugeSamples(g, "vmevents_agent_lease_age_seconds", "node", nil)).To(HaveKeyWithValue(node, BeNumerically(">=", 90)))
		}).Should(Succeed())

		Expect(env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agentNS, Name: heartbeat.LeaseName(node)}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(gaugeSamples(g, "vmevents_agent_lease_age_seconds", "node", nil)).NotTo(HaveKey(node))
		}).Should(Succeed())
	})

	It("exports a VM's fault conditions with its namespace and name, and drops them with the VM", func() {
		vm := newVM("metrics", nodeA)
		byType := func(g Gomega) map[string]float64 {
			return gaugeSamples(g, "vmevents_virtualmachine_condition", "type", map[string]string{"namespace": vm.Namespace, "name": vm.Name})
		}
		Eventually(byType).Should(And(
			HaveKeyWithValue(vmv1.ConditionMonitorConnected, 1.0),
			HaveKeyWithValue(vmv1.ConditionGuestPanicked, 1.0),
			Not(HaveKey(vmv1.ConditionReady)),
		))

		Expect(env.Client.Delete(ctx, vm)).To(Succeed())
		Eventually(byType).Should(BeEmpty())
	})
})
