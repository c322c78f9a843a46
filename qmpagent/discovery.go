package qmpagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmpsource"
)

// DiscoveredLabel marks the VirtualMachines discovery created.
const DiscoveredLabel = "vmevents.dev/discovered"

// Discovery creates a VirtualMachine for every QMP socket matching Glob that
// no VirtualMachine of this node watches yet, so plain-QEMU users see
// `kubectl get vm` without writing YAML. It needs the right to create
// VirtualMachines (config/rbac/agent_discovery_role.yaml).
type Discovery struct {
	// Publisher lists this node's VMs and creates the discovered ones.
	Publisher Publisher
	// Glob is an absolute pattern (filepath.Match syntax) for QMP sockets;
	// only matches under Roots are considered.
	Glob      string
	Roots     []string
	Node      string
	Namespace string
	// Interval between scans; 10 s when zero.
	Interval time.Duration
	// QMP configures the short connection that reads a socket's name and uuid.
	QMP qmp.Options
}

// NeedLeaderElection is false: every node discovers its own VMs.
func (d *Discovery) NeedLeaderElection() bool { return false }

// Start scans until ctx ends.
func (d *Discovery) Start(ctx context.Context) error {
	interval := d.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	log := ctrl.Log.WithName("discovery")
	for {
		if err := d.Scan(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "discovering QMP sockets", "glob", d.Glob)
		}
		if !backoff.Sleep(ctx, interval) {
			return nil
		}
	}
}

// Scan creates the VMs for the sockets found now.
func (d *Discovery) Scan(ctx context.Context) error {
	matches, err := filepath.Glob(d.Glob)
	if err != nil {
		return fmt.Errorf("bad --discover pattern %q: %w", d.Glob, err)
	}
	vms, err := d.Publisher.VirtualMachines(ctx)
	if err != nil {
		return err
	}
	watched := map[string]bool{}
	for _, vm := range vms {
		if vm.Spec.QMP != nil {
			watched[filepath.Clean(vm.Spec.QMP.SocketPath)] = true
		}
	}
	log := ctrl.Log.WithName("discovery")
	for _, path := range matches {
		if watched[filepath.Clean(path)] {
			continue
		}
		if err := d.create(ctx, path); err != nil {
			// One bad socket must not stop the others; the next scan retries.
			log.Info("not discovered", "socket", path, "reason", err.Error())
		}
	}
	return nil
}

// create reads the VM's name and uuid from QEMU and creates its VirtualMachine.
func (d *Discovery) create(ctx context.Context, path string) error {
	real, err := qmpsource.Resolve(path, d.Roots)
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := qmp.Dial(qctx, real, d.QMP)
	if err != nil {
		return err // a busy monitor has another client: tried again next scan
	}
	name, _ := conn.QueryName(qctx)
	uuid, _ := conn.QueryUUID(qctx)
	_ = conn.Close()

	vm := &vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: DiscoveredName(name, path, d.Node)},
		Spec:       vmv1.VirtualMachineSpec{NodeName: d.Node, QMP: &vmv1.QMPSource{SocketPath: path}},
	}
	if uuidPattern.MatchString(uuid) && uuid != "00000000-0000-0000-0000-000000000000" {
		vm.Spec.UUID = uuid
	}
	return d.Publisher.CreateVirtualMachine(ctx, vm)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// DiscoveredName makes a DNS-1123 label from QEMU's -name, or the socket's
// file name when QEMU has none, with a short hash of node and path so that
// the same name on two nodes, or two sockets, never collide.
func DiscoveredName(qemuName, socketPath, node string) string {
	base := qemuName
	if base == "" {
		base = strings.TrimSuffix(filepath.Base(socketPath), filepath.Ext(socketPath))
	}
	base = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if base == "" {
		base = "vm"
	}
	sum := sha256.Sum256([]byte(node + "\x00" + filepath.Clean(socketPath)))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	if len(base) > 63-len(suffix) {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	return base + suffix
}
