// Package localcluster runs a stand-alone Kubernetes control plane on
// loopback: real etcd and a real kube-apiserver with token authentication and
// RBAC, and one identity per component, so the controller and the agent run
// under exactly the permissions config/rbac gives them in a cluster.
//
// `make demo` and the end-to-end suite use it; the binaries come from
// hack/control-plane.sh (KUBEBUILDER_ASSETS).
package localcluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmevents/vmevents/test/framework/proc"
)

// Identity is a user the apiserver knows by a static token.
type Identity struct {
	// Name is the Kubernetes user name; a service account's is
	// system:serviceaccount:<namespace>:<name>, which RBAC bindings to that
	// ServiceAccount match.
	Name   string
	Groups []string
}

// Well-known identities: the admin, and the two components as the service
// accounts config/rbac binds their roles to.
var (
	Admin      = Identity{Name: "vmevents-admin", Groups: []string{"system:masters"}}
	Controller = ServiceAccount("vmevents-controller", "vmevents-controller")
	Agent      = ServiceAccount("vmevents-system", "vmevents-agent")
)

// ServiceAccount is the identity of a service account, with the groups the
// apiserver gives service-account tokens.
func ServiceAccount(namespace, name string) Identity {
	return Identity{
		Name:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// Options configures a Cluster.
type Options struct {
	// Assets is the folder with etcd, kube-apiserver and kubectl.
	Assets string
	// Dir holds the cluster's data, keys, kubeconfigs and logs.
	Dir string
	// Identities get a token and a kubeconfig each (Admin always does).
	Identities []Identity

	// The fields below let the control plane serve a real node
	// (test/framework/node); the zero values give a loopback-only apiserver.

	// Address is where the apiserver listens and what it advertises as the
	// kubernetes Service's endpoint (default 127.0.0.1, a random port).
	Address string
	// Port is the apiserver's port (default: a free one).
	Port int
	// ServingIPs are extra addresses the serving certificate names, e.g. the
	// kubernetes Service's cluster IP that pods dial.
	ServingIPs []net.IP
	// APIServerArgs are added to kube-apiserver's arguments, each "--flag",
	// "value" pair replacing the default's pair of that flag.
	APIServerArgs []string
	// Wrap, if set, turns each command the cluster runs (etcd,
	// kube-apiserver, kubectl) into the one to execute, e.g. to enter a
	// network namespace first.
	Wrap func(bin string, args []string) (string, []string)
	// Dial, if set, is how the cluster itself reaches the apiserver (its
	// readiness check), e.g. from inside that network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Cluster is a running control plane.
type Cluster struct {
	opts     Options
	server   string
	etcdPort int
	apiPort  int
	etcd     *proc.Process
	api      *proc.Process
	tokens   map[string]string
}

// Start starts etcd and kube-apiserver and waits until the apiserver is ready.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	for _, d := range []string{"pki", "etcd", "logs", "kubeconfigs"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	c := &Cluster{opts: opts, tokens: map[string]string{}}
	if opts.Address == "" {
		opts.Address = "127.0.0.1"
	}
	c.opts = opts
	ips := append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(opts.Address)}, opts.ServingIPs...)
	if err := writePKI(filepath.Join(opts.Dir, "pki"), ips); err != nil {
		return nil, fmt.Errorf("creating keys: %w", err)
	}
	ids := append([]Identity{Admin}, opts.Identities...)
	if err := c.writeTokens(ids); err != nil {
		return nil, err
	}
	var err error
	if c.etcdPort, err = freePort(); err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if c.apiPort = opts.Port; c.apiPort == 0 {
		if c.apiPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	c.server = "https://" + net.JoinHostPort(opts.Address, fmt.Sprint(c.apiPort))
	if err := c.startEtcd(peerPort); err != nil {
		return nil, err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	for _, id := range ids {
		if err := c.writeKubeconfig(id); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// Server is the apiserver's URL.
func (c *Cluster) Server() string { return c.server }

// Kubectl is the path of the kubectl that came with the control plane.
func (c *Cluster) Kubectl() string { return filepath.Join(c.opts.Assets, "kubectl") }

// Kubeconfig is the path of the kubeconfig for an identity given at Start.
func (c *Cluster) Kubeconfig(id Identity) string {
	return filepath.Join(c.opts.Dir, "kubeconfigs", sanitize(id.Name)+".yaml")
}

// LogFile is the path of a component's log, "etcd" or "kube-apiserver".
func (c *Cluster) LogFile(component string) string {
	return filepath.Join(c.opts.Dir, "logs", component+".log")
}

func (c *Cluster) writeTokens(ids []Identity) error {
	var b strings.Builder
	for i, id := range ids {
		tok := make([]byte, 24)
		if _, err := rand.Read(tok); err != nil {
			return err
		}
		c.tokens[id.Name] = hex.EncodeToString(tok)
		fmt.Fprintf(&b, "%s,%s,uid-%d,\"%s\"\n", c.tokens[id.Name], id.Name, i, strings.Join(id.Groups, ","))
	}
	return os.WriteFile(filepath.Join(c.opts.Dir, "pki", "tokens.csv"), []byte(b.String()), 0o600)
}

func (c *Cluster) writeKubeconfig(id Identity) error {
	ca := filepath.Join(c.opts.Dir, "pki", "ca.crt")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: vmevents-local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %q
  user:
    token: %s
contexts:
- name: vmevents-local
  context:
    cluster: vmevents-local
    user: %q
    namespace: default
current-context: vmevents-local
`, c.server, ca, id.Name, c.tokens[id.Name], id.Name)
	return os.WriteFile(c.Kubeconfig(id), []byte(cfg), 0o600)
}

func (c *Cluster) startEtcd(peerPort int) error {
	client := fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	cmd, err := c.spawn("etcd", filepath.Join(c.opts.Assets, "etcd"),
		"--data-dir", filepath.Join(c.opts.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		"--unsafe-no-fsync", // a throw-away local store; fsync only slows tests
	)
	c.etcd = cmd
	return err
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) and waits
// until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	pki := filepath.Join(c.opts.Dir, "pki")
	cmd, err := c.spawnWith(c.opts.APIServerArgs, "kube-apiserver", filepath.Join(c.opts.Assets, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort),
		"--bind-address", c.opts.Address,
		"--advertise-address", c.opts.Address,
		"--secure-port", fmt.Sprint(c.apiPort),
		"--tls-cert-file", filepath.Join(pki, "serving.crt"),
		"--tls-private-key-file", filepath.Join(pki, "serving.key"),
		"--token-auth-file", filepath.Join(pki, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--anonymous-auth=false",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(pki, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--allow-privileged=true",
		"--kubelet-client-certificate", filepath.Join(pki, "kubelet-client.crt"),
		"--kubelet-client-key", filepath.Join(pki, "kubelet-client.key"),
	)
	if err != nil {
		return err
	}
	c.api = cmd
	return c.waitReady(ctx)
}

// StopAPIServer stops kube-apiserver, leaving etcd running: an apiserver
// outage as clients see it.
func (c *Cluster) StopAPIServer() {
	stop(c.api)
	c.api = nil
}

// Stop stops every process the cluster started.
func (c *Cluster) Stop() {
	stop(c.api)
	stop(c.etcd)
	c.api, c.etcd = nil, nil
}

func (c *Cluster) spawn(name, bin string, args ...string) (*proc.Process, error) {
	return c.spawnWith(nil, name, bin, args...)
}

// spawnWith starts bin with args overridden by extra (see
// Options.APIServerArgs), wrapped by Options.Wrap.
func (c *Cluster) spawnWith(extra []string, name, bin string, args ...string) (*proc.Process, error) {
	bin, args = c.wrap(bin, override(args, extra))
	return proc.Start(name, c.LogFile(name), bin, args...)
}

func (c *Cluster) wrap(bin string, args []string) (string, []string) {
	if c.opts.Wrap == nil {
		return bin, args
	}
	return c.opts.Wrap(bin, args)
}

// Token is the bearer token of an identity given at Start.
func (c *Cluster) Token(id Identity) string { return c.tokens[id.Name] }

// PKI is the path of a file of the cluster's keys: "ca.crt" (the CA the
// serving certificate chains to), "sa.key", "kubelet-client.crt"...
func (c *Cluster) PKI(name string) string { return filepath.Join(c.opts.Dir, "pki", name) }

// stop ends a child, killing it if it has not ended within 10 s.
func stop(p *proc.Process) { p.Stop(10 * time.Second) }

// waitReady polls /readyz with the admin token until the apiserver answers ok.
func (c *Cluster) waitReady(ctx context.Context) error {
	caPEM, err := os.ReadFile(filepath.Join(c.opts.Dir, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: c.opts.Dial}}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.tokens[Admin.Name])
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz answered %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("kube-apiserver not ready (log: %s)", c.LogFile("kube-apiserver")), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func sanitize(s string) string {
	return strings.NewReplacer(":", "-", "/", "-").Replace(s)
}

// override returns args ("--flag", "value" pairs, or "--flag=value" and
// lone "--flag" items) with every flag that extra sets dropped, then extra.
func override(args, extra []string) []string {
	set := map[string]bool{}
	for _, a := range extra {
		if strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a, "=")
			set[name] = true
		}
	}
	var out []string
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(args[i], "=")
		pair := !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--")
		if set[name] {
			if pair {
				i++
			}
			continue
		}
		out = append(out, args[i])
		if pair {
			out = append(out, args[i+1])
			i++
		}
	}
	return append(out, extra...)
}
