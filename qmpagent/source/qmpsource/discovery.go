package qmpsource

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Discovery creates a VirtualMachine for every QMP socket matching Glob that
// no VirtualMachine of this node watches yet, so plain-QEMU users see
// `kubectl get vm` without writing YAML. It needs the right to create
// VirtualMachines (config/rbac/agent_discovery_role.yaml).
type Discovery struct {
	// Publisher lists this node's VMs and creates the discovered ones.
	Publisher source.Publisher
	// Glob is an absolute pattern (filepath.Match syntax) for QMP sockets;
	// only matches under Roots are considered.
	Glob      string
	Roots     []string
	Namespace string
	// Interval between scans; 10 s when zero.
	Interval time.Duration
	// QMP configures the short connection that reads a socket's name and uuid.
	QMP qmp.Options
}

// Run scans until ctx ends.
func (d *Discovery) Run(ctx context.Context) {
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
			return
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
	real, err := Resolve(path, d.Roots)
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
	_, err = source.Discover(ctx, d.Publisher, d.Namespace, source.Found{
		Name: name, Identity: path, UUID: uuid,
		Spec: vmv1.VirtualMachineSpec{QMP: &vmv1.QMPSource{SocketPath: path}},
	})
	return err
}
