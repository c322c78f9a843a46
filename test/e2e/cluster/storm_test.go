package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
)

// storm serves n fake QEMUs (test/loadgen: QEMU's exact wire protocol, for
// what a real QEMU cannot produce on demand) in namespace default's socket
// folder, declares their VirtualMachines, runs the scenario-2 mix at 200
// events/s and one storm of rate events/s for secs seconds, and then checks
// the agent pod against its manifest: never restarted or OOM-killed, the Go
// runtime's GOMEMLIMIT equal to the container's memory limit, and the
// container's peak memory under that limit (reported, as a measurement).
func storm(n, rate, secs int) {
	GinkgoHelper()
	dir := filepath.Join(socketRoot, "default", "storm")
	Expect(os.MkdirAll(dir, 0o700)).To(Succeed())
	DeferCleanup(os.RemoveAll, dir)
	bin := filepath.Join(work, "loadgen")
	build := exec.Command("go", "build", "-o", bin, "./test/loadgen")
	build.Dir = repo
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))

	gen := exec.Command(bin, "-dir", dir, "-n", fmt.Sprint(n), "-rate", "200")
	stdin, err := gen.StdinPipe()
	Expect(err).NotTo(HaveOccurred())
	stdout, err := gen.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	gen.Stderr = GinkgoWriter
	Expect(gen.Start()).To(Succeed())
	DeferCleanup(func() { stdin.Close(); _ = gen.Wait() })
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// Only the milestones; the per-event lines are for benchmarks.
			if l := sc.Text(); strings.HasPrefix(l, "READY") || strings.HasPrefix(l, "STORMDONE") {
				lines <- l
			}
		}
	}()
	Eventually(lines).Should(Receive(HavePrefix("READY")))

	// The mix's RTC_CHANGE is silenced by default; kept, it is an Event
	// write as under the event policy's absence.
	var vms strings.Builder
	names := []string{"delete", "vm", "--wait=false"}
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("storm-%d", i))
		fmt.Fprintf(&vms, "---\napiVersion: vmevents.dev/v1alpha1\nkind: VirtualMachine\nmetadata: {name: storm-%d, namespace: default}\nspec: {nodeName: %s, qmp: {socketPath: %s/%d.qmp}, eventPolicy: {keep: [RTC_CHANGE]}}\n", i, kube.Name(), dir, i)
	}
	_, err = kube.KubectlAs(context.Background(), admin, vms.String(), "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _, _ = kube.Kubectl(context.Background(), names...) })
	Eventually(jsonpath("vm", fmt.Sprintf("storm-%d", n-1), "{.status.monitor.state}")).Should(Equal("Connected"))

	pod := strings.TrimSpace(kubectl(agentNS("get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "jsonpath={.items[0].metadata.name}")...))
	_, err = io.WriteString(stdin, fmt.Sprintf("storm 0 %d %d\n", rate, secs))
	Expect(err).NotTo(HaveOccurred())
	Eventually(lines).WithTimeout(2 * time.Minute).Should(Receive(HavePrefix("STORMDONE")))
	// The storm's events reach the status (counted, coalesced or not).
	Eventually(jsonpath("vm", "storm-0", "{.status.eventCounts.BLOCK_IO_ERROR}")).ShouldNot(BeEmpty())

	Expect(kubectl(agentNS("get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}/{.status.containerStatuses[0].lastState.terminated.reason}")...)).
		To(Equal("0/"), "the agent restarted during the storm")
	limit := strings.TrimSpace(kubectl(agentNS("get", "pod", pod, "-o", "jsonpath={.spec.containers[0].resources.limits.memory}")...))
	q := resource.MustParse(limit)
	limitBytes := q.Value()

	cid := kubectl(agentNS("get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].containerID}")...)
	cg := containerCgroup(strings.TrimPrefix(strings.TrimSpace(cid), "containerd://"))
	environ, err := os.ReadFile(filepath.Join("/proc", cg.pid(), "environ"))
	Expect(err).NotTo(HaveOccurred())
	Expect(strings.Split(string(environ), "\x00")).To(ContainElement("GOMEMLIMIT="+strconv.FormatInt(limitBytes, 10)),
		"the agent's Go runtime is not told the container's memory limit")
	peak := cg.peakMemory()
	Expect(peak).To(BeNumerically("<", limitBytes))
	AddReportEntry("agent peak memory during the storm", fmt.Sprintf("%.1f MiB of a %s limit (%d VMs, 200 events/s, a %d events/s storm for %d s)",
		float64(peak)/(1<<20), limit, n, rate, secs))
}
