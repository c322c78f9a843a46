package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
)

var _ = Describe("vmevents deployed with config/default on a real node", Ordered, func() {
	var (
		scenarios []stack.Scenario
		vms       = map[string]*qemuvm.VM{}
	)

	BeforeAll(func() {
		var err error
		scenarios, err = stack.Scenarios(filepath.Join(work, "scenarios"))
		Expect(err).NotTo(HaveOccurred())
		for i := range scenarios {
			vms[scenarios[i].Name] = boot(&scenarios[i])
		}
	})

	It("runs the agent on the node and two controller replicas, from the image, as the manifests say", func() {
		Expect(kubectl(agentNS("get", "daemonset", "vmevents-agent", "-o",
			"jsonpath={.status.numberReady}/{.status.desiredNumberScheduled}")...)).To(Equal("1/1"))
		Expect(kubectl(controllerNS("get", "deployment", "vmevents-controller", "-o",
			"jsonpath={.status.readyReplicas}/{.spec.replicas}")...)).To(Equal("2/2"))
		images := kubectl(vmeventsPods("-o", "jsonpath={range .items[*]}{.status.containerStatuses[0].image} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}")...)
		Expect(strings.Fields(images)).To(HaveLen(6))
		Expect(images).To(MatchRegexp(`^(docker.io/library/vmevents:latest 0\n){3}$`))
	})

	It("tells what real QEMU does, as Events and conditions", func() {
		for _, sc := range scenarios {
			kubectl("wait", "--for=condition=MonitorConnected", "vm/"+sc.Name, "--timeout=120s")
		}
		for _, sc := range scenarios {
			Expect(stack.Play(context.Background(), sc, vms[sc.Name])).To(Succeed(), sc.Name)
		}
		for _, sc := range scenarios {
			kubectl("wait", "--for=condition="+sc.Condition, "vm/"+sc.Name, "--timeout=120s")
		}
		Eventually(kubectlFn("get", "events", "--field-selector", "involvedObject.name=web-1,reason=GuestPanicked",
			"-o", "custom-columns=TYPE:.type,NODE:.reportingInstance,NOTE:.message", "--no-headers")).
			Should(MatchRegexp(`Warning\s+` + kube.Name() + `\s+Guest panicked; QEMU action: pause`))
		Eventually(kubectlFn("get", "events", "--field-selector", "involvedObject.name=web-1,reason=GuestPanickedTrue", "--no-headers")).
			ShouldNot(BeEmpty())
		Expect(kubectl("get", "vm", "-o", "wide")).To(MatchRegexp(`web-1\s+` + kube.Name() + `\s+Paused\s+False\s+Connected`))
	})

	It("shows both components' logs through kubectl logs", func() {
		Expect(kubectl(agentNS("logs", "daemonset/vmevents-agent")...)).To(ContainSubstring(`"msg":"starting","node":"` + kube.Name() + `"`))
		// Both replicas: the leader and the one waiting for the Lease.
		logs := kubectl(controllerNS("logs", "-l", "app.kubernetes.io/component=controller", "--prefix", "--tail=-1")...)
		Expect(regexp.MustCompile(`(?m)^\[pod/vmevents-controller-[^\]]+\] .*Serving metrics server`).FindAllString(logs, -1)).To(HaveLen(2))
		Expect(logs).To(ContainSubstring("Starting Controller"))
	})

	It("serves metrics on each pod's metrics port to a token bound to the reader role, and to no one else", func() {
		kubectl("create", "serviceaccount", "scraper", "-n", "default")
		kubectl("create", "clusterrolebinding", "vmevents-scraper", "--clusterrole=vmevents-metrics-reader", "--serviceaccount=default:scraper")
		token := strings.TrimSpace(kubectl("create", "token", "scraper", "-n", "default"))
		ips := strings.Fields(kubectl(vmeventsPods("-o", "jsonpath={range .items[*]}{.status.podIP}:{.spec.containers[0].ports[?(@.name==\"metrics\")].containerPort} {end}")...))
		Expect(ips).To(HaveLen(3))
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: kube.Dial,
			// The metrics server's certificate is self-signed; what is
			// under test here is who may read, not whom to trust.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
		}}
		scrape := func(addr, token string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		for _, addr := range ips {
			code, body := scrape(addr, token)
			Expect(code).To(Equal(http.StatusOK), addr)
			Expect(body).To(ContainSubstring("vmevents_"), addr)
			code, _ = scrape(addr, "")
			Expect(code).To(Equal(http.StatusUnauthorized), addr)
		}
	})

	It("keeps telling condition changes when the leader pod is deleted: a replica takes over", func() {
		vm := boot(idle("idle-1"))
		kubectl("wait", "--for=condition=Paused=False", "vm/idle-1", "--timeout=120s")
		leader := strings.Split(kubectl(controllerNS("get", "lease", "vmevents-controller", "-o", "jsonpath={.spec.holderIdentity}")...), "_")[0]
		Expect(leader).To(HavePrefix("vmevents-controller-"))

		kubectl(controllerNS("delete", "pod", leader, "--wait=false")...)
		mon := monitor(vm)
		Expect(mon.Execute(context.Background(), "stop", nil, nil)).To(Succeed())

		kubectl("wait", "--for=condition=Paused", "vm/idle-1", "--timeout=120s")
		Eventually(jsonpath("lease", "vmevents-controller", "{.spec.holderIdentity}", "-n", "vmevents-controller")).
			ShouldNot(HavePrefix(leader + "_"))
		Eventually(kubectlFn(controllerNS("get", "deployment", "vmevents-controller", "-o", "jsonpath={.status.readyReplicas}")...)).Should(Equal("2"))
	})

	It("loses no fault across kubectl rollout restart of the agent during a stream of faults (its spool is on a hostPath)", func() {
		mon := monitor(vms["web-1"])
		before := counted("web-1")
		resyncs := kubectl("get", "vm", "web-1", "-o", "jsonpath={.status.delivery.resyncs}")
		const faults = 4
		for i := 0; i < faults; i++ {
			Expect(stack.PanicAgain(context.Background(), mon)).To(Succeed())
			if i == 1 {
				// Right behind a fault the agent has just read: it stops
				// with that fault in hand, and the new pod must tell it.
				kubectl(agentNS("rollout", "restart", "daemonset/vmevents-agent")...)
				kubectl(agentNS("rollout", "status", "daemonset/vmevents-agent", "--timeout=120s")...)
				// The new agent is connected once it has re-synced the VM;
				// QEMU tells no one what happens while no agent listens.
				Eventually(jsonpath("vm", "web-1", "{.status.delivery.resyncs}")).ShouldNot(Equal(resyncs))
			}
		}
		Eventually(func() (int, error) { return counted("web-1"), nil }).Should(Equal(before + faults))
		Eventually(occurrencesOf("web-1", "GuestPanicked")).Should(Equal(before + faults))
	})

	It("discovers a VM nobody declared, with the discovery component", func() {
		installWith("discovery")
		DeferCleanup(func() { installWith() })
		vm := launch(idle("found-1"))
		var name string
		Eventually(func() (string, error) {
			out, err := kube.Kubectl(context.Background(), "get", "vm", "-l", "vmevents.dev/discovered", "-o", "name")
			name = strings.TrimSpace(out)
			return name, err
		}).Should(HavePrefix("virtualmachine.vmevents.dev/found-1-"))
		kubectl("wait", "--for=condition=MonitorConnected", name, "--timeout=120s")
		Expect(monitor(vm).Execute(context.Background(), "stop", nil, nil)).To(Succeed())
		short := strings.TrimPrefix(name, "virtualmachine.vmevents.dev/")
		Eventually(kubectlFn("get", "events", "--field-selector", "involvedObject.name="+short+",reason=Stop", "--no-headers")).
			Should(ContainSubstring("VM paused"))
	})

	It("keeps the agent inside its memory limit, with GOMEMLIMIT from it, through an event storm", func() {
		storm(20, 10000, 10)
	})
})

// counted is how many guest panics web-1's status counts.
func counted(vm string) int {
	GinkgoHelper()
	var n int
	out := kubectl("get", "vm", vm, "-o", "jsonpath={.status.eventCounts.GUEST_PANICKED}")
	fmt.Sscan(out, &n)
	return n
}

// occurrencesOf counts the occurrences the Events with reason about vm
// stand for, series included.
func occurrencesOf(vm, reason string) func() (int, error) {
	return func() (int, error) {
		out, err := kube.Kubectl(context.Background(), "get", "events.events.k8s.io", "--field-selector", "regarding.name="+vm+",reason="+reason,
			"-o", stack.OccurrencesJSONPath)
		return stack.Occurrences(out), err
	}
}
