package qmpagent_test

import (
	"context"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/qmpagent"
)

// countingReader counts the reads the heartbeat makes.
type countingReader struct {
	client.Reader
	gets atomic.Int32
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}

// countingWriter counts the Lease updates the heartbeat makes.
type countingWriter struct {
	client.Writer
	updates atomic.Int32
}

func (w *countingWriter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	w.updates.Add(1)
	return w.Writer.Update(ctx, obj, opts...)
}

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

	It("renews with one write, reads the Lease again only after someone else changed or deleted it, and puts its labels back", func(ctx SpecContext) {
		const hbNode = "heartbeat-node"
		key := client.ObjectKey{Namespace: "vmevents-system", Name: heartbeat.LeaseName(hbNode)}
		reader := &countingReader{Reader: env.Client}
		writer := &countingWriter{Writer: env.Client}
		hb := &qmpagent.Heartbeat{Client: reader, Writer: writer, Node: hbNode, Namespace: key.Namespace, Interval: 20 * time.Millisecond}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- hb.Start(runCtx) }()
		DeferCleanup(func() {
			stop()
			Eventually(done).Should(Receive(BeNil()))
			Expect(env.Client.Delete(context.Background(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})).To(Succeed())
		})

		By("creating the Lease after one read, then renewing it without reading")
		Eventually(writer.updates.Load).Should(BeNumerically(">=", 3))
		Expect(reader.gets.Load()).To(BeEquivalentTo(1))

		By("reading it again when another writer changed it under the heartbeat")
		var lease coordinationv1.Lease
		Eventually(func() error { // the heartbeat may renew in between
			if err := env.Client.Get(ctx, key, &lease); err != nil {
				return err
			}
			lease.Annotations = map[string]string{"touched-by": "someone-else"}
			lease.Labels = nil // and the controller no longer finds it
			return env.Client.Update(ctx, &lease)
		}).Should(Succeed())
		touched := lease.ResourceVersion
		Eventually(func(g Gomega) {
			var now coordinationv1.Lease
			g.Expect(env.Client.Get(ctx, key, &now)).To(Succeed())
			g.Expect(now.ResourceVersion).NotTo(Equal(touched))
			g.Expect(now.Annotations).To(HaveKeyWithValue("touched-by", "someone-else"))
			g.Expect(now.Labels).To(Equal(heartbeat.Labels(hbNode)))
		}).Should(Succeed())
		Expect(reader.gets.Load()).To(BeEquivalentTo(2))

		By("creating it again when it was deleted")
		Expect(env.Client.Delete(ctx, &lease)).To(Succeed())
		Eventually(func() error { return env.Client.Get(ctx, key, &coordinationv1.Lease{}) }).Should(Succeed())
		Expect(reader.gets.Load()).To(BeEquivalentTo(3))
	})
})
