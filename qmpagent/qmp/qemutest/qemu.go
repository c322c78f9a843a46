// Package qemutest starts real QEMU processes for integration tests: the
// testing face of test/framework/qemuvm. A QEMU started here is killed when the
// test ends. Tests that use it need QEMU installed:
//
//	apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils
//
// Require skips such tests under -short and fails them, with that hint,
// when QEMU is missing: a real component is never skipped silently.
package qemutest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/vmevents/vmevents/test/framework/qemuvm"
)

// InstallHint says how to get the programs this package runs.
const InstallHint = qemuvm.InstallHint

// Boot programs, see test/framework/qemuvm.
var (
	Idle        = qemuvm.Idle
	Panic       = qemuvm.Panic
	Watchdog    = qemuvm.Watchdog
	RTC         = qemuvm.RTC
	TripleFault = qemuvm.TripleFault
)

// BootSector pads code into a bootable 512-byte sector.
func BootSector(code []byte) []byte { return qemuvm.BootSector(code) }

// VNCHandshake does an RFB 3.8 handshake with security type None.
func VNCHandshake(ctx context.Context, addr string) (string, error) {
	return qemuvm.VNCHandshake(ctx, addr)
}

// ErrNoNoneSecurity is returned by VNCHandshake when the server requires
// authentication.
var ErrNoNoneSecurity = qemuvm.ErrNoNoneSecurity

// Options describes a QEMU to start; Dir and Stderr are chosen here.
type Options = qemuvm.Options

// Instance is a running QEMU.
type Instance struct {
	*qemuvm.VM
	// Dir is the instance's private directory.
	Dir string
}

// Stderr returns what QEMU has written so far, for failure messages.
func (in *Instance) Stderr() string { return in.Output() }

// Require returns the path of qemu-system-x86_64. Under -short it skips
// the test; if QEMU is not installed it fails the test with InstallHint.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real QEMU; skipped with -short")
	}
	return requireProgram(t, "qemu-system-x86_64")
}

func requireProgram(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH; install it with: %s", name, InstallHint)
	}
	return path
}

// Start starts QEMU and waits until its QMP socket listens. The process is
// killed when the test ends.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	Require(t)
	// A short private directory: unix socket paths are limited to 108
	// bytes and test temp dirs can be longer.
	dir, err := os.MkdirTemp("", "qemutest")
	if err != nil {
		t.Fatalf("qemutest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	opts.Dir = dir
	vm, err := qemuvm.Launch(context.Background(), opts)
	if err != nil {
		t.Fatalf("qemutest: %v", err)
	}
	t.Cleanup(vm.Kill)
	return &Instance{VM: vm, Dir: dir}
}

// BlkdebugReadErrorDisk returns the QEMU arguments for an IDE disk "id"
// whose every read fails with EIO (see qemuvm.ReadErrorDisk).
func BlkdebugReadErrorDisk(t testing.TB, id string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs qemu-img; skipped with -short")
	}
	requireProgram(t, "qemu-img")
	args, err := qemuvm.ReadErrorDisk(t.TempDir(), id)
	if err != nil {
		t.Fatalf("qemutest: %v", err)
	}
	return args
}
