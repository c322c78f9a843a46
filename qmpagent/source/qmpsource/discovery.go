package qmpsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Discovery creates a VirtualMachine for every QMP socket matching Glob that
// no VirtualMachine of this node watches yet, so plain-QEMU users see
// `kubectl get vm` without writing YAML, and deletes the ones it created
// whose socket has been gone for GoneGrace. It needs the right to create
// and delete VirtualMachines (config/rbac/agent_discovery_role.yaml).
type Discovery struct {
	// Publisher lists this node's VMs and creates the discovered ones.
	Publisher source.Publisher
	// Glob is an absolute pattern (filepath.Match syntax) for QMP sockets;
	// only matches beneath Folder of one of Roots are considered: the
	// folder Namespace is granted (source.Tenancy.SocketFolder), so a
	// discovered VM is one its namespace may follow.
	Glob      string
	Roots     []string
	Folder    string
	Namespace string
	// Interval between scans; 10 s when zero.
	Interval time.Duration
	// QMP configures the short connection that reads a socket's name and uuid.
	QMP qmp.Options
	// GoneGrace is how long the socket of a discovered VirtualMachine may
	// be missing before the VirtualMachine is deleted (QEMU removes its
	// socket when the VM ends for good; a restart brings it back within
	// seconds). DefaultGoneGrace when zero; a negative grace keeps them.
	GoneGrace time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// gone is when each discovered VM's socket was first found missing.
	gone map[types.UID]time.Time
}

// DefaultGoneGrace is how long a discovered VM's socket may be missing
// before its VirtualMachine is deleted.
const DefaultGoneGrace = 10 * time.Minute

// ReasonSocketGone is the reason of the Event that tells a discovered VM's
// socket is gone.
const ReasonSocketGone = "DiscoveredSocketGone"

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
	d.sweep(ctx, vms)
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
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := DialQMP(qctx, path, d.Roots, d.Folder, d.QMP)
	if errors.Is(err, source.ErrNotGranted) {
		return nil // another namespace's socket: not this discovery's
	}
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

// sweep marks the VirtualMachines this discovery created whose socket is
// gone (an Event, once; the VM's session says Disconnected, "no socket at
// that path") and deletes those gone for longer than GoneGrace. A socket
// that comes back starts the count again.
func (d *Discovery) sweep(ctx context.Context, vms []vmv1.VirtualMachine) {
	if d.gone == nil {
		d.gone = map[types.UID]time.Time{}
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	grace := d.GoneGrace
	if grace == 0 {
		grace = DefaultGoneGrace
	}
	missing := map[types.UID]bool{}
	for i := range vms {
		vm := &vms[i]
		if !d.created(vm) {
			continue
		}
		if _, err := os.Lstat(vm.Spec.QMP.SocketPath); !errors.Is(err, fs.ErrNotExist) {
			continue // there, or not known to be gone
		}
		missing[vm.UID] = true
		since, known := d.gone[vm.UID]
		switch {
		case !known:
			d.gone[vm.UID] = now
			note := fmt.Sprintf("QMP socket %s is gone; this discovered VirtualMachine is deleted if it does not come back within %s", model.Clean(vm.Spec.QMP.SocketPath, model.MaxFieldBytes), grace)
			if grace < 0 {
				note = fmt.Sprintf("QMP socket %s is gone; this discovered VirtualMachine is kept (no grace set)", model.Clean(vm.Spec.QMP.SocketPath, model.MaxFieldBytes))
			}
			source.Tell(d.Publisher, source.TargetOf(vm), model.Occurrence{Time: now, Action: "SocketGone", Reason: ReasonSocketGone, Note: note}, vmv1.SourceQMP)
		case grace >= 0 && now.Sub(since) >= grace:
			if err := d.Publisher.DeleteVirtualMachine(ctx, vm); err != nil {
				ctrl.Log.WithName("discovery").Info("not deleted", "vm", vm.Namespace+"/"+vm.Name, "reason", err.Error())
			}
		}
	}
	for uid := range d.gone {
		if !missing[uid] {
			delete(d.gone, uid)
		}
	}
}

// created reports whether vm is one this discovery creates: labelled as
// discovered, with a QMP socket its pattern matches.
func (d *Discovery) created(vm *vmv1.VirtualMachine) bool {
	if vm.Labels[source.DiscoveredLabel] != "true" || vm.Spec.QMP == nil {
		return false
	}
	ok, err := filepath.Match(d.Glob, filepath.Clean(vm.Spec.QMP.SocketPath))
	return err == nil && ok
}
