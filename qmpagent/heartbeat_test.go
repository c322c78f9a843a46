package qmpagent_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/internal/heartbeat"
)

var _ = Describe("the heartbeat", func() {
	It("keeps a labelled Lease for the node that the controller can find", func() {
		var lease coordinationv1.Lease
		Eventually(func() error {
			return env.Client.Get(context.Background(), client.ObjectKey{Namespace: "vmevents-system", Name: heartbeat.LeaseName(node)}, &lease)
		}).Should(Succeed())
		Expect(lease.Labels).To(Equal(heartbeat.Labels(node)))
		Expect(lease.Spec.HolderIdentity).To(HaveValue(Equal(node)))
		Expect(lease.Spec.RenewTime).NotTo(BeNil())
		got, ok := heartbeat.Node(&lease)
		Expect(ok).To(BeTrue())
		Expect(got).To(Equal(node))
	})
})
