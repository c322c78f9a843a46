package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
)

// boot starts a scenario's real QEMU (launch) and creates its
// VirtualMachine for this node.
func boot(sc *stack.Scenario) *qemuvm.VM {
	GinkgoHelper()
	vm := launch(sc)
	_, err := kube.KubectlAs(context.Background(), admin, fmt.Sprintf(`apiVersion: vmevents.dev/v1alpha1
kind: VirtualMachine
metadata:
  name: %s
  namespace: default
spec:
  nodeName: %s
  qmp:
    socketPath: %s
`, sc.Name, kube.Name(), sc.QEMU.QMPPath), "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	return vm
}

// launch starts a scenario's real QEMU on the host with its QMP socket in
// namespace default's folder under the socket root the DaemonSet mounts.
func launch(sc *stack.Scenario) *qemuvm.VM {
	GinkgoHelper()
	dir := filepath.Join(socketRoot, "default")
	Expect(os.MkdirAll(dir, 0o700)).To(Succeed())
	sc.QEMU.QMPPath = filepath.Join(dir, sc.Name+".qmp")
	Expect(os.MkdirAll(sc.QEMU.Dir, 0o700)).To(Succeed())
	vm, err := qemuvm.Launch(context.Background(), sc.QEMU)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(vm.Kill)
	DeferCleanup(os.Remove, sc.QEMU.QMPPath)
	return vm
}

// idle is a scenario whose guest just runs, in its own folder.
func idle(name string) *stack.Scenario {
	return &stack.Scenario{Name: name, QEMU: qemuvm.Options{
		Dir: filepath.Join(work, "scenarios", "vms", name), Name: name, Boot: qemuvm.Idle, PrettyMonitor: true}}
}

// monitor opens the test's own (second) monitor of a VM.
func monitor(vm *qemuvm.VM) *qmp.Conn {
	GinkgoHelper()
	mon, err := qmp.Dial(context.Background(), vm.PrettyQMPPath, qmp.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(mon.Close)
	return mon
}
