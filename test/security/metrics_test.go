package security

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/proc"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// Metrics tell which VMs a node runs and what happened to them: the
// components serve them over HTTPS to callers the apiserver authenticates
// and authorizes, with their defaults as the manifests run them.
var _ = Describe("Metrics", Ordered, func() {
	var (
		binary, dir     string
		reader, denied  string // tokens of a scraper bound to the reader role, and of one that is not
		agentKubeconfig string
	)

	BeforeAll(func() {
		var err error
		dir = GinkgoT().TempDir()
		binary, err = stack.Build(testenv.RepoRoot(), dir)
		Expect(err).NotTo(HaveOccurred())
		for _, args := range [][]string{
			{"create", "serviceaccount", "scraper", "-n", "default"},
			{"create", "serviceaccount", "stranger", "-n", "default"},
			{"create", "clusterrolebinding", "scraper-metrics", "--clusterrole", "vmevents-metrics-reader", "--serviceaccount", "default:scraper"},
		} {
			out, err := sys.Kubectl(args...)
			Expect(err).NotTo(HaveOccurred(), out)
		}
		reader = token("scraper")
		denied = token("stranger")
		// A node of its own: the node restriction specs keep node-a's Lease.
		agentKubeconfig, err = sys.Cluster.PodKubeconfig(ctx, localcluster.PodIdentity{Namespace: "vmevents-system", ServiceAccount: "vmevents-agent", Node: "node-m"})
		Expect(err).NotTo(HaveOccurred())
	})

	// scrape GETs /metrics with a bearer token (none when empty).
	scrape := func(addr, bearer string) func() scraped {
		return func() scraped {
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // its own self-signed certificate
			req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return scraped{Body: err.Error()}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return scraped{Code: resp.StatusCode, Body: string(body)}
		}
	}

	DescribeTable("are served only to an authorized scraper",
		func(component string, args func() []string, metric string) {
			addr := freeAddr()
			p, err := proc.Start(component, filepath.Join(dir, component+".log"), binary,
				append([]string{component, "--metrics-bind-address", addr, "--health-probe-bind-address", "0"}, args()...)...)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(p.Stop, gracePeriod)

			Eventually(scrape(addr, reader)).Should(And(HaveField("Code", http.StatusOK), HaveField("Body", ContainSubstring(metric))), "log: %s", logOf(dir, component))
			Expect(scrape(addr, "")()).To(HaveField("Code", http.StatusUnauthorized))
			Expect(scrape(addr, denied)()).To(HaveField("Code", http.StatusForbidden))
		},
		Entry("controller", "controller", func() []string {
			return []string{"--kubeconfig", sys.Cluster.Kubeconfig(localcluster.Controller), "--leader-elect=false"}
		}, `controller_runtime_reconcile_total{controller="virtualmachine"`),
		Entry("agent", "agent", func() []string {
			return []string{"--kubeconfig", agentKubeconfig,
				"--node-name", "node-m", "--namespace", "vmevents-system", "--socket-root", dir, "--spool-dir", filepath.Join(dir, "spool"), "--audit-log="}
		}, "vmevents_agent_sessions "),
	)
})

// scraped is one answer of a /metrics endpoint.
type scraped struct {
	Code int
	Body string
}

// gracePeriod is how long a component may take to stop.
const gracePeriod = 15 * time.Second

// token is a token of a service account in the default namespace.
func token(serviceAccount string) string {
	GinkgoHelper()
	out, err := sys.Kubectl("create", "token", serviceAccount, "-n", "default")
	Expect(err).NotTo(HaveOccurred(), out)
	return strings.TrimSpace(out)
}

// freeAddr is a loopback address no one listens on now.
func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// logOf is the tail of a component's log, for failure messages.
func logOf(dir, component string) string {
	data, _ := os.ReadFile(filepath.Join(dir, component+".log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return fmt.Sprintf("\n%s", data)
}
