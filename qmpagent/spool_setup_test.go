package qmpagent_test

import (
	"context"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

var _ = Describe("spool replay", func() {
	It("writes the kept facts of a VM still on this node, and drops those of a VM that moved to another node or was deleted meanwhile", func() {
		const here = "node-spool"
		dir := suiteT.TempDir()
		spec := func(node string) vmv1.VirtualMachineSpec {
			return vmv1.VirtualMachineSpec{NodeName: node, QMP: &vmv1.QMPSource{SocketPath: filepath.Join(dir, "none.qmp")}}
		}
		stayed := testenv.VirtualMachine("default", "spooled-stayed", spec(here))
		moved := testenv.VirtualMachine("default", "spooled-moved", spec("node-other"))
		for _, vm := range []*vmv1.VirtualMachine{stayed, moved} {
			Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
		}
		// The moved VM's new node has published its own facts.
		moved.Status.EventCounts = map[string]int64{"RESUME": 1}
		Expect(env.Client.Status().Update(context.Background(), moved)).To(Succeed())
		published := getVM(moved)()

		// What an agent on this node, stopped during an apiserver outage,
		// kept for each of its VMs (one since deleted).
		spool, err := qmpagent.NewSpool[types.NamespacedName, model.Facts](filepath.Join(dir, "facts"), 10)
		Expect(err).NotTo(HaveOccurred())
		var kept model.Facts
		kept.Count("SHUTDOWN", 7)
		for _, key := range []types.NamespacedName{
			client.ObjectKeyFromObject(stayed), client.ObjectKeyFromObject(moved), {Namespace: "default", Name: "spooled-deleted"},
		} {
			Expect(spool.Save(key, kept)).To(Succeed())
		}
		Expect(spool.Close()).To(Succeed())

		stop := runAgent(qmpagent.Config{NodeName: here, SpoolDir: dir})
		defer stop()

		Eventually(getVM(stayed)).Should(HaveField("EventCounts", HaveKeyWithValue("SHUTDOWN", int64(7))))
		// Every kept value was either written or dropped...
		Eventually(journaled(filepath.Join(dir, "facts"))).Should(BeEmpty())
		// ...and the moved VM's status is still its new node's.
		Expect(getVM(moved)()).To(Equal(published))
		Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "spooled-deleted"},
			&vmv1.VirtualMachine{})).To(Satisfy(apierrors.IsNotFound))
	})
})
