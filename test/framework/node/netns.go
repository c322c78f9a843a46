package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vmevents/vmevents/test/framework/proc"
)

// namespaces is the node's own network and mount namespaces, held open by
// one idle process. Every component runs inside both: the cluster's pod and
// Service addresses never exist outside the network namespace, and every
// mount the kubelet and the runtime make (volumes, container root
// filesystems, the folders bound below) vanishes with the mount namespace.
// Files stay shared: a QEMU socket made on the host is where a hostPath
// volume finds it.
type namespaces struct {
	holder *proc.Process
	// netPath is the holder's network namespace, for setns.
	netPath string
}

// privateFolders are host folders the kubelet or the runtime write to
// whatever they are told; inside the node's mount namespace each is a bind
// of a folder under the node's directory, so the host's stay untouched.
var privateFolders = []string{"/var/log/pods", "/var/log/containers"}

// enterNamespaces starts the holder: a new network namespace with loopback
// and a "node0" interface (one end of a veth pair: the dummy driver is
// not always loadable) carrying addr (the node's address, with a
// default route through it so the kubelet and kube-proxy find one), and a
// new mount namespace with privateFolders bound under dir.
func enterNamespaces(dir, addr string) (*namespaces, []string, error) {
	var made []string // host folders created as mount points, removed on teardown
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, f := range privateFolders {
		if _, err := os.Stat(f); os.IsNotExist(err) {
			made = append(made, f)
		}
		inner := filepath.Join(dir, "host", strings.TrimPrefix(f, "/"))
		if err := os.MkdirAll(inner, 0o755); err != nil {
			return nil, made, err
		}
		if err := os.MkdirAll(f, 0o755); err != nil {
			return nil, made, err
		}
		fmt.Fprintf(&script, "mount --bind %q %q\n", inner, f)
	}
	fmt.Fprintf(&script, `ip link set lo up
ip link add node0 type veth peer name node0-peer
ip addr add %s/24 dev node0
ip link set node0-peer up
ip link set node0 up
ip route add default dev node0
echo ready > %q
exec sleep infinity
`, addr, filepath.Join(dir, "namespaces.ready"))
	holder, err := proc.Start("namespaces", filepath.Join(dir, "logs", "namespaces.log"),
		"unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", script.String())
	if err != nil {
		return nil, made, err
	}
	return &namespaces{holder: holder, netPath: fmt.Sprintf("/proc/%d/ns/net", holder.Pid())}, made, nil
}

// wrap runs bin inside the node's namespaces.
func (n *namespaces) wrap(bin string, args []string) (string, []string) {
	return "nsenter", append([]string{"-t", fmt.Sprint(n.holder.Pid()), "--net", "--mount", "--", bin}, args...)
}

// command is an exec.Cmd for bin inside the node's namespaces.
func (n *namespaces) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	b, a := n.wrap(bin, args)
	return exec.CommandContext(ctx, b, a...)
}

// dial connects from inside the node's network namespace: the test reaches
// the apiserver, a pod's IP or a Service as a process on the node would.
// The socket is made on a thread moved into the namespace for the call (a
// socket belongs to the namespace it was made in) and moved back after.
// Threads must not die here: a child started from a thread gets its
// parent-death signal when that thread ends, and the node's processes are
// such children.
func (n *namespaces) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("opening this thread's network namespace: %w", err)}
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open(n.netPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("opening the node's network namespace: %w", err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("entering the node's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		// Back home before the thread serves anyone else; if that fails the
		// thread stays locked and ends with this goroutine, which is the
		// lesser harm than running other code in the wrong namespace.
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.conn, r.err
}
