package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/vmevents/vmevents/test/framework/node"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/monitoring"
)

// The prometheus component (config/components/prometheus) against a real
// Prometheus (hack/prometheus.sh, PROMETHEUS) run on the node, with the
// Prometheus Operator's CRDs installed. Prometheus scrapes as the
// component's ServiceMonitors say (monitoring.ScrapeConfigs: the
// operator's translation, EndpointSlice discovery included), with the token
// of the service account the component binds the metrics reader role to,
// and evaluates the PrometheusRule's groups as its rules file.
var _ = Describe("Prometheus scraping the prometheus component, with its rules", Ordered, func() {
	const (
		vmName   = "prom-panic"
		promAddr = node.NodeIP + ":9090"
	)
	var (
		ctx  = context.Background()
		comp = filepath.Join(repo, "config", "components", "prometheus")
		// kube is set in BeforeSuite, after this tree is built.
		client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return kube.Dial(ctx, network, addr)
			},
		}}
	)
	// api reads Prometheus's HTTP API at path into data, the answer's
	// "data" field.
	api := func(path string, data any) error {
		resp, err := client.Get("http://" + promAddr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct {
			Status string          `json:"status"`
			Data   json.RawMessage `json:"data"`
			Error  string          `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return err
		}
		if r.Status != "success" {
			return fmt.Errorf("%s: %s %s", path, r.Status, r.Error)
		}
		return json.Unmarshal(r.Data, data)
	}

	BeforeAll(func() {
		bin := os.Getenv("PROMETHEUS")
		Expect(bin).NotTo(BeEmpty(), "PROMETHEUS must name the prometheus binary: PROMETHEUS=$(hack/prometheus.sh) (make test sets it)")

		By("installing the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs")
		crds, err := monitoring.OperatorCRDs()
		Expect(err).NotTo(HaveOccurred())
		for _, kind := range []string{"servicemonitors", "prometheusrules"} {
			manifest, err := os.ReadFile(filepath.Join(crds, "monitoring.coreos.com_"+kind+".yaml"))
			Expect(err).NotTo(HaveOccurred())
			_, err = kube.KubectlAs(ctx, admin, string(manifest), "apply", "--server-side", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
			kubectl("wait", "--for=condition=Established", "crd/"+kind+".monitoring.coreos.com", "--timeout=60s")
		}

		By("installing config/default with the prometheus component")
		installWith("prometheus")
		DeferCleanup(func() {
			By("removing the prometheus component's objects, for the specs after these")
			var k struct{ Resources []string }
			data, err := os.ReadFile(filepath.Join(comp, "kustomization.yaml"))
			Expect(err).NotTo(HaveOccurred())
			Expect(yaml.Unmarshal(data, &k)).To(Succeed())
			for _, r := range k.Resources {
				kubectl("delete", "--ignore-not-found", "-f", filepath.Join(comp, r))
			}
		})

		By("making the service account the component binds the metrics reader role to, and its token")
		kubectl("create", "namespace", "monitoring")
		DeferCleanup(kubectl, "delete", "namespace", "monitoring", "--wait=false")
		kubectl("create", "serviceaccount", "prometheus-k8s", "-n", "monitoring")
		dir := filepath.Join(work, "prometheus")
		Expect(os.MkdirAll(filepath.Join(dir, "data"), 0o700)).To(Succeed())
		token := filepath.Join(dir, "token")
		Expect(os.WriteFile(token, []byte(strings.TrimSpace(kubectl("create", "token", "prometheus-k8s", "-n", "monitoring"))), 0o600)).To(Succeed())

		By("starting Prometheus on the node: the ServiceMonitors' scrape configs and the PrometheusRule's rules")
		spec, err := monitoring.ReadPrometheusRule(filepath.Join(comp, "prometheusrule.yaml"))
		Expect(err).NotTo(HaveOccurred())
		rules, err := monitoring.WriteRulesFile(spec, dir, "vmevents.rules.yaml")
		Expect(err).NotTo(HaveOccurred())
		sms, err := monitoring.ReadServiceMonitors(filepath.Join(comp, "servicemonitors.yaml"))
		Expect(err).NotTo(HaveOccurred())
		cfg, err := yaml.Marshal(map[string]any{
			// Each second: the rules without for: fire at the first
			// evaluation that sees the series.
			"global":     map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
			"rule_files": []string{rules},
			"scrape_configs": monitoring.ScrapeConfigs(sms, monitoring.Scrape{
				Interval: "1s",
				// Discovery as the admin: listing EndpointSlices is what
				// kube-prometheus grants its Prometheus, not vmevents.
				Kubeconfig: kube.Cluster().Kubeconfig(admin),
				TokenFile:  token,
			}),
		})
		Expect(err).NotTo(HaveOccurred())
		config := filepath.Join(dir, "prometheus.yaml")
		Expect(os.WriteFile(config, cfg, 0o600)).To(Succeed())
		p, err := kube.Run("prometheus", bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+promAddr)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Stop, 10*time.Second)
		Eventually(func() error {
			var rs struct{ Groups []any }
			return api("/api/v1/rules", &rs)
		}).Should(Succeed(), "Prometheus's API (log: %s)", kube.LogFile("prometheus"))
	})

	It("scrapes the agent and both controller replicas, through the ServiceMonitors' settings", func() {
		type target struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		}
		up := func() (map[string]int, error) {
			var ts struct {
				ActiveTargets []target `json:"activeTargets"`
			}
			if err := api("/api/v1/targets?state=active", &ts); err != nil {
				return nil, err
			}
			jobs := map[string]int{}
			for _, t := range ts.ActiveTargets {
				if t.Health != "up" {
					return nil, fmt.Errorf("%s %s: %s %s", t.Labels["job"], t.Labels["pod"], t.Health, t.LastError)
				}
				if t.Labels["job"] == "vmevents-agent-metrics" && t.Labels["node"] != kube.Name() {
					return nil, fmt.Errorf("agent target without its node label: %v", t.Labels)
				}
				jobs[t.Labels["job"]]++
			}
			return jobs, nil
		}
		Eventually(up).Should(Equal(map[string]int{"vmevents-agent-metrics": 1, "vmevents-controller-metrics": 2}))
	})

	It("fires VirtualMachineGuestPanicked for a VM whose real guest panicked, with its namespace and name; resolved after the VM is reset, and with the VM", func() {
		sc := &stack.Scenario{Name: vmName, QEMU: qemuvm.Options{
			Dir: filepath.Join(work, "scenarios", "vms", vmName), Name: vmName, Boot: qemuvm.PanicOnce, Paused: true, PrettyMonitor: true,
			Args: []string{"-device", "pvpanic"}}}
		vm := boot(sc)
		DeferCleanup(kubectl, "delete", "vm", vmName, "--ignore-not-found")
		kubectl("wait", "--for=condition=MonitorConnected", "vm/"+vmName, "--timeout=120s")
		Expect(firing(api, vmName)()).To(BeEmpty(), "no alert before the panic")

		mon := monitor(vm)
		Expect(mon.Execute(ctx, "cont", nil, nil)).To(Succeed())
		kubectl("wait", "--for=condition=GuestPanicked", "vm/"+vmName, "--timeout=120s")
		Eventually(firing(api, vmName)).Should(ContainElement(SatisfyAll(
			HaveKeyWithValue("severity", "critical"),
			HaveKeyWithValue("namespace", "default"),
			HaveKeyWithValue("reason", "Pause"),
		)))

		By("resetting the VM: the guest boots again without a panic, and the alert resolves")
		Expect(mon.Execute(ctx, "system_reset", nil, nil)).To(Succeed())
		Expect(mon.Execute(ctx, "cont", nil, nil)).To(Succeed())
		kubectl("wait", "--for=condition=GuestPanicked=False", "vm/"+vmName, "--timeout=120s")
		Eventually(firing(api, vmName)).Should(BeEmpty())

		By("panicking again is impossible for this guest; deleting the VirtualMachine removes its series")
		kubectl("delete", "vm", vmName)
		Eventually(firing(api, vmName)).Should(BeEmpty())
	})

	// After the panic: by then the binaries have served what a run with a
	// VM, a fault and its recovery makes; the rest (error counters and the
	// like) they serve at zero from the start. Prometheus keeps every name
	// it scraped, so a series gone with the VM still counts.
	It("was served, by the agent or a controller replica, every metric the rules and the dashboard name", func() {
		spec, err := monitoring.ReadPrometheusRule(filepath.Join(comp, "prometheusrule.yaml"))
		Expect(err).NotTo(HaveOccurred())
		dash, err := monitoring.ReadDashboard(filepath.Join(comp, monitoring.DashboardFile))
		Expect(err).NotTo(HaveOccurred())
		named := monitoring.NamedMetrics(spec, dash)
		Expect(named).To(HaveKey("vmevents_virtualmachine_condition"), "the names read from the rules")

		// served is the metric names Prometheus scraped from the agent and
		// the controller replicas.
		served := func() (map[string]bool, error) {
			out := map[string]bool{}
			for _, job := range []string{"vmevents-agent-metrics", "vmevents-controller-metrics"} {
				var names []string
				if err := api("/api/v1/label/__name__/values?match[]="+url.QueryEscape(`{job="`+job+`"}`), &names); err != nil {
					return nil, err
				}
				for _, n := range names {
					out[n] = true
				}
			}
			return out, nil
		}
		Eventually(func(g Gomega) {
			got, err := served()
			g.Expect(err).NotTo(HaveOccurred())
			var missing []string
			for m, where := range named {
				if !got[m] {
					missing = append(missing, fmt.Sprintf("%s (used by %s)", m, strings.Join(where, ", ")))
				}
			}
			slices.Sort(missing)
			g.Expect(missing).To(BeEmpty(), "named by the rules or the dashboard, never scraped from the binaries")
		}).Should(Succeed())
	})
})

// firing lists the labels of the VirtualMachineGuestPanicked alerts firing
// in Prometheus for VM default/name.
func firing(api func(string, any) error, name string) func() ([]map[string]string, error) {
	return func() ([]map[string]string, error) {
		var as struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := api("/api/v1/alerts", &as); err != nil {
			return nil, err
		}
		var out []map[string]string
		for _, a := range as.Alerts {
			if a.State == "firing" && a.Labels["alertname"] == "VirtualMachineGuestPanicked" && a.Labels["name"] == name {
				out = append(out, a.Labels)
			}
		}
		return out, nil
	}
}
