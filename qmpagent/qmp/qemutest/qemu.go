// Package qemutest starts real QEMU processes for integration tests.
//
// It builds boot-sector guests (see boot.go) in a temporary directory,
// starts qemu-system-x86_64 with a QMP socket next to them, and kills the
// process when the test ends. Tests that use it need QEMU installed:
//
//	apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils
//
// Require skips such tests under -short and fails them, with that hint,
// when QEMU is missing: a real component is never skipped silently.
package qemutest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint says how to get the programs this package runs.
const InstallHint = "apt-get update && apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils"

// startTimeout bounds how long QEMU may take to create its QMP socket.
const startTimeout = 30 * time.Second

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

// Options describes a QEMU to start.
type Options struct {
	// Boot is the guest's boot code (see Idle, Panic, Watchdog, RTC,
	// TripleFault), written to a raw IDE disk. Nil means no boot disk.
	Boot []byte
	// Paused starts the VM with -S, so that the guest runs only after a
	// QMP "cont". Events a guest causes at boot are lost unless a client
	// is connected before it runs: QEMU does not keep events for later.
	Paused bool
	// VNC starts a VNC server on a free port of 127.0.0.1; see
	// Instance.VNCAddr.
	VNC bool
	// PrettyMonitor adds a second QMP monitor in pretty mode; see
	// Instance.PrettyQMPPath.
	PrettyMonitor bool
	// Accel is the -machine accel= value; "" means "kvm:tcg" (KVM when
	// /dev/kvm is usable, else emulation). Some guest behaviour differs
	// under nested KVM: a real-mode triple fault, for one, does not reset
	// the VM there, so TripleFault needs "tcg".
	Accel string
	// QMPPath, when set, is where the QMP socket goes instead of the
	// instance's directory: a QEMU restarted on the same socket.
	QMPPath string
	// Args are appended to the command line, for example
	// []string{"-device", "pvpanic"}.
	Args []string
}

// Instance is a running QEMU.
type Instance struct {
	// Dir is the instance's private directory.
	Dir string
	// QMPPath is the QMP monitor socket.
	QMPPath string
	// PrettyQMPPath is the pretty-mode monitor, if requested.
	PrettyQMPPath string
	// VNCAddr is the VNC server's host:port, if requested.
	VNCAddr string

	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // the process's exit status
}

// Start starts QEMU and waits until its QMP socket exists. The process is
// killed when the test ends.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	qemu := Require(t)
	// A short private directory: unix socket paths are limited to 108
	// bytes and test temp dirs can be longer.
	dir, err := os.MkdirTemp("", "qemutest")
	if err != nil {
		t.Fatalf("qemutest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	in := &Instance{Dir: dir, QMPPath: filepath.Join(dir, "qmp.sock"), done: make(chan struct{})}
	if opts.QMPPath != "" {
		in.QMPPath = opts.QMPPath
	}

	accel := opts.Accel
	if accel == "" {
		accel = "kvm:tcg"
	}
	args := []string{
		"-machine", "pc,accel=" + accel, "-m", "64",
		"-display", "none", "-no-shutdown", "-nic", "none",
		"-qmp", "unix:" + in.QMPPath + ",server=on,wait=off",
	}
	if opts.Paused {
		args = append(args, "-S")
	}
	if opts.Boot != nil {
		img := filepath.Join(dir, "boot.img")
		if err := os.WriteFile(img, BootSector(opts.Boot), 0o600); err != nil {
			t.Fatalf("qemutest: %v", err)
		}
		args = append(args, "-drive", "file="+img+",format=raw,if=ide")
	}
	if opts.PrettyMonitor {
		in.PrettyQMPPath = filepath.Join(dir, "qmp-pretty.sock")
		args = append(args,
			"-chardev", "socket,id=qmppretty,path="+in.PrettyQMPPath+",server=on,wait=off",
			"-mon", "chardev=qmppretty,mode=control,pretty=on")
	}
	if opts.VNC {
		port := freePort(t)
		in.VNCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "-vnc", "127.0.0.1:"+strconv.Itoa(port-5900))
	}
	args = append(args, opts.Args...)

	in.cmd = exec.Command(qemu, args...)
	in.cmd.Stderr = &in.stderr
	in.cmd.Stdout = &in.stderr
	// Its own process group, so that a signal meant for the test run
	// does not reach QEMU first and Kill reaches everything it started.
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("qemutest: starting QEMU: %v", err)
	}
	go func() {
		in.err = in.cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(in.Kill)

	sockets := []string{in.QMPPath}
	if in.PrettyQMPPath != "" {
		sockets = append(sockets, in.PrettyQMPPath)
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range sockets {
		for {
			if listening(s) {
				break
			}
			select {
			case <-in.done:
				t.Fatalf("qemutest: QEMU exited before creating %s (%v):\n%s\nargs: %q", s, in.err, in.Stderr(), args)
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("qemutest: QEMU did not create %s within %v:\n%s", s, startTimeout, in.Stderr())
			}
		}
	}
	return in
}

// listening reports whether a unix socket is bound at path and listening.
// QEMU creates the socket file with bind() before it calls listen(), and a
// connect in between is refused, so the file's existence is not enough.
// Probing with a connection would take the monitor's only client slot;
// /proc/net/unix shows the listening state without touching the socket.
func listening(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	table, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return true // not Linux: the file's existence is the best we know
	}
	// Columns: Num RefCount Protocol Flags Type St Inode Path. Flags
	// 00010000 (__SO_ACCEPTCON) marks a listening socket.
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[7] == path && f[3] == "00010000" {
			return true
		}
	}
	return false
}

// freePort returns a TCP port that was free a moment ago. VNC needs a
// port of 5900 or above, which the kernel's ephemeral ports always are.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("qemutest: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if port > 5900 {
			return port
		}
	}
	t.Fatalf("qemutest: no free TCP port above 5900")
	return 0
}

// Signal sends sig to QEMU.
func (in *Instance) Signal(sig os.Signal) error { return in.cmd.Process.Signal(sig) }

// Kill kills QEMU and waits for it to exit. It is safe to call more than
// once and after QEMU has exited.
func (in *Instance) Kill() {
	select {
	case <-in.done:
		return
	default:
	}
	_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	<-in.done
}

// Wait waits for QEMU to exit and returns its exit status.
func (in *Instance) Wait(ctx context.Context) error {
	select {
	case <-in.done:
		return in.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited reports whether QEMU has exited.
func (in *Instance) Exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// Stderr returns what QEMU has written so far, for failure messages.
func (in *Instance) Stderr() string { return in.stderr.String() }

// BlkdebugReadErrorDisk creates a small qcow2 image behind a blkdebug
// filter that fails every read with EIO, and returns the QEMU arguments
// attaching it as IDE disk "id" with werror=stop,rerror=stop. The BIOS's
// read of its boot sector makes QEMU emit BLOCK_IO_ERROR (action "stop")
// and then STOP. The image holds a boot sector so that the sector is
// allocated: qcow2 answers reads of unallocated clusters with zeros
// without touching the file, and the error would never fire. (A raw image
// behind blkdebug does not fire it either.)
func BlkdebugReadErrorDisk(t testing.TB, id string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs qemu-img; skipped with -short")
	}
	qemuImg := requireProgram(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, id+".raw")
	if err := os.WriteFile(raw, BootSector(Idle), 0o600); err != nil {
		t.Fatalf("qemutest: %v", err)
	}
	img := filepath.Join(dir, id+".qcow2")
	out, err := exec.Command(qemuImg, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, img).CombinedOutput()
	if err != nil {
		t.Fatalf("qemutest: qemu-img convert: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, id+".blkdebug")
	rule := "[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\n"
	if err := os.WriteFile(conf, []byte(rule), 0o600); err != nil {
		t.Fatalf("qemutest: %v", err)
	}
	return []string{"-drive", "driver=qcow2,file.driver=blkdebug,file.config=" + conf +
		",file.image.filename=" + img + ",if=ide,id=" + id + ",werror=stop,rerror=stop"}
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
