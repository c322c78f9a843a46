package qemuvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// InstallHint says how to get the programs this package runs.
const InstallHint = "apt-get update && apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils"

// StartTimeout bounds how long QEMU may take to create its QMP sockets.
const StartTimeout = 30 * time.Second

// Options describes a QEMU to start.
type Options struct {
	// Dir is the VM's folder (boot image, default sockets); it must exist.
	Dir string
	// Name is QEMU's -name, if set.
	Name string
	// Boot is the guest's boot code (see Idle, Panic, Watchdog, RTC,
	// TripleFault), written to a raw IDE disk. Nil means no boot disk.
	Boot []byte
	// Paused starts the VM with -S, so that the guest runs only after a
	// QMP "cont". Events a guest causes at boot are lost unless a client
	// is connected before it runs: QEMU does not keep events for later.
	Paused bool
	// VNC starts a VNC server on a free port of 127.0.0.1; see VM.VNCAddr.
	VNC bool
	// PrettyMonitor adds a second QMP monitor in pretty mode; see
	// VM.PrettyQMPPath. QEMU serves one client per monitor, so a second
	// one lets a test or demo send commands while the agent holds the first.
	PrettyMonitor bool
	// Accel is the -machine accel= value; "" means "kvm:tcg" (KVM when
	// /dev/kvm is usable, else emulation). Some guest behaviour differs
	// under nested KVM: a real-mode triple fault, for one, does not reset
	// the VM there, so TripleFault needs "tcg".
	Accel string
	// QMPPath, when set, is where the QMP socket goes instead of Dir.
	QMPPath string
	// Args are appended to the command line, for example
	// []string{"-device", "pvpanic"}.
	Args []string
	// Stderr receives QEMU's output; nil keeps it in memory (VM.Output).
	Stderr *os.File
}

// VM is a running QEMU.
type VM struct {
	// QMPPath is the QMP monitor socket.
	QMPPath string
	// PrettyQMPPath is the pretty-mode monitor, if requested.
	PrettyQMPPath string
	// VNCAddr is the VNC server's host:port, if requested.
	VNCAddr string
	// Args is the command line QEMU was started with.
	Args []string

	cmd    *exec.Cmd
	output syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // the process's exit status
}

// Launch starts QEMU and waits until its QMP sockets listen.
func Launch(ctx context.Context, opts Options) (*VM, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("qemu-system-x86_64 not found; install it with: %s", InstallHint)
	}
	vm := &VM{QMPPath: filepath.Join(opts.Dir, "qmp.sock"), done: make(chan struct{})}
	if opts.QMPPath != "" {
		vm.QMPPath = opts.QMPPath
	}
	accel := opts.Accel
	if accel == "" {
		accel = "kvm:tcg"
	}
	args := []string{
		"-machine", "pc,accel=" + accel, "-m", "64",
		"-display", "none", "-no-shutdown", "-nic", "none",
		"-qmp", "unix:" + vm.QMPPath + ",server=on,wait=off",
	}
	if opts.Name != "" {
		args = append(args, "-name", opts.Name)
	}
	if opts.Paused {
		args = append(args, "-S")
	}
	if opts.Boot != nil {
		img := filepath.Join(opts.Dir, "boot.img")
		if err := os.WriteFile(img, BootSector(opts.Boot), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "-drive", "file="+img+",format=raw,if=ide")
	}
	if opts.PrettyMonitor {
		vm.PrettyQMPPath = filepath.Join(opts.Dir, "qmp-pretty.sock")
		args = append(args,
			"-chardev", "socket,id=qmppretty,path="+vm.PrettyQMPPath+",server=on,wait=off",
			"-mon", "chardev=qmppretty,mode=control,pretty=on")
	}
	if opts.VNC {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		vm.VNCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "-vnc", "127.0.0.1:"+strconv.Itoa(port-5900))
	}
	args = append(args, opts.Args...)
	vm.Args = args

	vm.cmd = exec.Command(qemu, args...)
	if opts.Stderr != nil {
		vm.cmd.Stdout, vm.cmd.Stderr = opts.Stderr, opts.Stderr
	} else {
		vm.cmd.Stdout, vm.cmd.Stderr = &vm.output, &vm.output
	}
	// Its own process group, so that a Ctrl-C meant for the caller does not
	// reach QEMU first, and Kill reaches everything it started.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := vm.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting QEMU: %w", err)
	}
	go func() {
		vm.err = vm.cmd.Wait()
		close(vm.done)
	}()

	sockets := []string{vm.QMPPath}
	if vm.PrettyQMPPath != "" {
		sockets = append(sockets, vm.PrettyQMPPath)
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	for _, s := range sockets {
		for !listening(s) {
			select {
			case <-vm.done:
				return nil, fmt.Errorf("QEMU exited before creating %s (%v):\n%s\nargs: %q", s, vm.err, vm.Output(), args)
			case <-ctx.Done():
				vm.Kill()
				return nil, fmt.Errorf("QEMU did not create %s in time: %w\n%s", s, ctx.Err(), vm.Output())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return vm, nil
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
func freePort() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if port > 5900 {
			return port, nil
		}
	}
	return 0, errors.New("no free TCP port above 5900")
}

// Signal sends sig to QEMU.
func (vm *VM) Signal(sig os.Signal) error { return vm.cmd.Process.Signal(sig) }

// Kill kills QEMU and waits for it to exit. It is safe to call more than
// once and after QEMU has exited.
func (vm *VM) Kill() {
	select {
	case <-vm.done:
		return
	default:
	}
	_ = syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
	<-vm.done
}

// Wait waits for QEMU to exit and returns its exit status.
func (vm *VM) Wait(ctx context.Context) error {
	select {
	case <-vm.done:
		return vm.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Output returns what QEMU has written so far (when Options.Stderr was nil).
func (vm *VM) Output() string { return vm.output.String() }

// ReadErrorDisk creates, in dir, a small qcow2 image behind a blkdebug
// filter that fails every read with EIO, and returns the QEMU arguments
// attaching it as IDE disk "id" with werror=stop,rerror=stop. The BIOS's
// read of its boot sector makes QEMU emit BLOCK_IO_ERROR (action "stop")
// and then STOP. The image holds a boot sector so that the sector is
// allocated: qcow2 answers reads of unallocated clusters with zeros
// without touching the file, and the error would never fire. (A raw image
// behind blkdebug does not fire it either.)
func ReadErrorDisk(dir, id string) ([]string, error) {
	return errorDisk(dir, id, false)
}

// ReadErrorOnceDisk is ReadErrorDisk whose first read fails and every
// later one succeeds: a VM paused on the error runs on once it is resumed,
// as one paused on a full disk does once space is back.
func ReadErrorOnceDisk(dir, id string) ([]string, error) {
	return errorDisk(dir, id, true)
}

func errorDisk(dir, id string, once bool) ([]string, error) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return nil, fmt.Errorf("qemu-img not found; install it with: %s", InstallHint)
	}
	raw := filepath.Join(dir, id+".raw")
	if err := os.WriteFile(raw, BootSector(Idle), 0o600); err != nil {
		return nil, err
	}
	img := filepath.Join(dir, id+".qcow2")
	if out, err := exec.Command(qemuImg, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu-img convert: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, id+".blkdebug")
	rule := "[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\n"
	if once {
		// QEMU reads the first sector itself when it attaches the disk
		// (its geometry guess), before the guest runs: that read moves
		// blkdebug to state 2, and only the next one, the BIOS's, fails,
		// once (a once rule is removed after it fired).
		rule = "[set-state]\nevent = \"read_aio\"\nstate = \"1\"\nnew_state = \"2\"\n\n" +
			"[inject-error]\nevent = \"read_aio\"\nstate = \"2\"\nerrno = \"5\"\nonce = \"on\"\n"
	}
	if err := os.WriteFile(conf, []byte(rule), 0o600); err != nil {
		return nil, err
	}
	return []string{"-drive", "driver=qcow2,file.driver=blkdebug,file.config=" + conf +
		",file.image.filename=" + img + ",if=ide,id=" + id + ",werror=stop,rerror=stop"}, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// caller's reads.
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

// String returns the contents.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
