package localcluster

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// PodIdentity is a service account as a pod on a node holds it: the token
// the kubelet would mount, bound to the pod, which names the pod's node
// (user extra authentication.kubernetes.io/node-name). Admission policies
// that keep a node agent to its node read that node.
type PodIdentity struct {
	Namespace, ServiceAccount, Node string
}

// name is the pod's (and the kubeconfig's) name.
func (p PodIdentity) name() string { return p.ServiceAccount + "-" + p.Node }

// PodKubeconfig makes the Node (if missing), a pod of the service account
// bound to it (it never runs: there is no kubelet), requests a token bound
// to that pod, and writes a kubeconfig with it. It returns the kubeconfig's
// path. The service account must exist.
func (c *Cluster) PodKubeconfig(ctx context.Context, p PodIdentity) (string, error) {
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %[3]s
---
apiVersion: v1
kind: Pod
metadata:
  name: %[4]s
  namespace: %[1]s
spec:
  nodeName: %[3]s
  serviceAccountName: %[2]s
  containers:
  - name: main
    image: vmevents:latest
`, p.Namespace, p.ServiceAccount, p.Node, p.name())
	if out, err := c.kubectl(ctx, manifest, "apply", "-f", "-"); err != nil {
		return "", fmt.Errorf("creating the node and pod of %s: %w\n%s", p.name(), err, out)
	}
	out, err := c.kubectl(ctx, "", "create", "token", p.ServiceAccount, "-n", p.Namespace,
		"--bound-object-kind", "Pod", "--bound-object-name", p.name(), "--duration", "24h")
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s: %w\n%s", p.name(), err, out)
	}
	id := Identity{Name: "pod-" + p.Namespace + "-" + p.name()}
	c.tokens[id.Name] = strings.TrimSpace(out)
	return c.Kubeconfig(id), c.writeKubeconfig(id)
}

// kubectl runs kubectl as the admin with stdin and returns its output.
func (c *Cluster) kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	bin, args := c.wrap(c.Kubectl(), append([]string{"--kubeconfig", c.Kubeconfig(Admin)}, args...))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.String(), err
	}
	return string(out), nil
}
