package node

import (
	"fmt"
	"os"
	"path/filepath"
)

// Addresses of the node's private network (only inside its namespace).
const (
	// NodeIP is the node's address: the kubelet's, and the apiserver's that
	// the kubernetes Service points at.
	NodeIP = "10.250.0.1"
	// APIServerPort is where the apiserver listens on the node.
	APIServerPort = 6443
	podCIDR       = "10.244.0.0/24"
	serviceCIDR   = "10.96.0.0/24"
	// kubernetesServiceIP is the first address of serviceCIDR: the
	// kubernetes Service that in-cluster clients dial.
	kubernetesServiceIP = "10.96.0.1"
	clusterDNSIP        = "10.96.0.10"
	// PauseImage is the sandbox image the runtime is pinned to.
	PauseImage = "vmevents.local/pause:1"
)

// containerdConfig is containerd 2.x's configuration (version 3): every
// folder under dir, runc from the host, CNI from the node binaries, the
// locally built sandbox image pinned, and restrict_oom_score_adj because
// these machines have no CAP_SYS_RESOURCE (without it every sandbox fails in
// runc with "can't get final child's PID from pipe").
func containerdConfig(dir, cniBin string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '/usr/sbin/runc'
        Root = %[4]q
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[5]q]
    conf_dir = %[6]q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[7]q

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket(dir),
		filepath.Join(dir, "runc"), cniBin, filepath.Join(dir, "cni"), PauseImage)
}

func socket(containerdDir string) string { return filepath.Join(containerdDir, "containerd.sock") }

// cniConfig is the pod network: a bridge with host-local addresses from
// podCIDR, masquerading what leaves it, and port mappings.
func cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "vmevents-node",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, podCIDR)
}

// kubeletConfig is the KubeletConfiguration for this machine: cgroup v1
// with the cgroupfs driver (failCgroupV1: false, or 1.36 exits), swap
// tolerated, the apiserver authenticated by its client certificate (logs,
// exec) and allowed everything, and eviction thresholds a build machine's
// disk does not trip.
func kubeletConfig(caFile, runtimeSocket, resolvConf, cgroupRoot string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
failCgroupV1: false
cgroupDriver: cgroupfs
# The node's own cgroup: its pods never mix with another node's on the
# same host, and teardown removes exactly what it made.
cgroupRoot: %[6]s
failSwapOn: false
containerRuntimeEndpoint: unix://%[2]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[3]q}
authorization:
  mode: AlwaysAllow
readOnlyPort: 0
resolvConf: %[4]q
# No DNS runs on the node; naming an address keeps ClusterFirst pods from
# falling back (and warning) while nothing here resolves names.
clusterDNS: [%[5]s]
clusterDomain: cluster.local
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
protectKernelDefaults: false
serializeImagePulls: false
syncFrequency: 10s
`, NodeIP, runtimeSocket, caFile, resolvConf, clusterDNSIP, cgroupRoot)
}

// kubeProxyConfig runs kube-proxy in iptables mode inside the node's
// namespace; conntrack limits are left alone (they are host-wide).
func kubeProxyConfig(kubeconfig, nodeName string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: %q
hostnameOverride: %q
clientConnection:
  kubeconfig: %q
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
`, podCIDR, nodeName, kubeconfig)
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o600)
}
