package qmpsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// A discovered VM whose socket is gone is told once, kept for the grace,
// deleted after it; a socket that comes back starts the count again. VMs a
// user wrote, or outside the pattern, are never touched.
func TestDiscoveryDeletesVMsWhoseSocketIsGone(t *testing.T) {
	dir := t.TempDir()
	glob := filepath.Join(dir, "discover-*.qmp")
	gone := filepath.Join(dir, "discover-gone.qmp")
	mine := discoveredVM("gone", gone)
	written := qmpVM("written", filepath.Join(dir, "discover-written.qmp")) // no label: a user's
	outside := discoveredVM("outside", filepath.Join(dir, "other.qmp"))
	rec := publishtest.NewRecorder(*mine, *written, *outside)

	const grace = 10 * time.Minute
	now := time.Unix(1700000000, 0)
	d := &Discovery{Publisher: rec, Glob: glob, Roots: []string{dir}, Namespace: "default",
		GoneGrace: grace, Now: func() time.Time { return now }}
	scan := func(at time.Time) {
		t.Helper()
		now = at
		if err := d.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	told := func() int {
		n := 0
		for _, p := range rec.Published() {
			if p.Occurrence.Reason == ReasonSocketGone {
				n++
				if p.Regarding.Name != "gone" || !strings.Contains(p.Occurrence.Note, gone) || !strings.Contains(p.Occurrence.Note, "10m0s") {
					t.Errorf("told %+v", p)
				}
			}
		}
		return n
	}

	t0 := now
	scan(t0)
	scan(t0.Add(grace - time.Second))
	if told() != 1 || len(rec.Deleted()) != 0 {
		t.Fatalf("within the grace: %d Events, deleted %v", told(), rec.Deleted())
	}

	// The socket comes back (QEMU restarted), then goes again.
	if err := os.WriteFile(gone, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	scan(t0.Add(grace + time.Second))
	if len(rec.Deleted()) != 0 {
		t.Fatalf("deleted while its socket is there")
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(grace + 2*time.Second)
	scan(t1)
	scan(t1.Add(grace - time.Second))
	if told() != 2 || len(rec.Deleted()) != 0 {
		t.Fatalf("after it came back and went again: %d Events, deleted %v", told(), rec.Deleted())
	}
	scan(t1.Add(grace))
	del := rec.Deleted()
	if len(del) != 1 || del[0].UID != mine.UID {
		t.Fatalf("deleted %v, want only the discovered VM whose socket is gone", del)
	}
}

// A negative grace keeps discovered VMs whatever happens to their socket.
func TestDiscoveryWithoutGraceKeepsVMs(t *testing.T) {
	dir := t.TempDir()
	vm := discoveredVM("gone", filepath.Join(dir, "discover-gone.qmp"))
	rec := publishtest.NewRecorder(*vm)
	now := time.Unix(1700000000, 0)
	d := &Discovery{Publisher: rec, Glob: filepath.Join(dir, "discover-*.qmp"), Roots: []string{dir},
		GoneGrace: -1, Now: func() time.Time { return now }}
	for range 3 {
		if err := d.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(24 * time.Hour)
	}
	if len(rec.Deleted()) != 0 || len(rec.Published()) != 1 || !strings.Contains(rec.Published()[0].Occurrence.Note, "kept") {
		t.Fatalf("deleted %v, published %+v", rec.Deleted(), rec.Published())
	}
}

// discoveredVM is a VM as discovery creates it.
func discoveredVM(name, socket string) *vmv1.VirtualMachine {
	vm := qmpVM(name, socket)
	vm.Labels = map[string]string{source.DiscoveredLabel: "true"}
	return vm
}
