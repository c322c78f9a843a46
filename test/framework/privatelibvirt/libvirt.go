// Package privatelibvirt runs a private libvirtd and auditd for the suites
// (hack/libvirt/ns.sh in a mount namespace of its own): the host's
// /etc/libvirt, /var/lib/libvirt and audit configuration stay untouched, and
// kernel auditing is turned off again when it stops.
package privatelibvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Packages is the Debian install command for what a private libvirtd needs.
const Packages = "apt-get install -y --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients auditd qemu-system-x86"

// lockPath serialises private auditds across processes: the kernel has one
// audit daemon socket, and `go test ./...` runs suites side by side.
const lockPath = "/run/lock/vmevents-auditd.lock"

// Daemon is a running private libvirtd and auditd.
type Daemon struct {
	// Dir is ns.sh's folder: run/ holds the socket, audit/ the audit log.
	Dir string
	// URI reaches the libvirtd through its socket.
	URI  string
	cmd  *exec.Cmd
	lock *os.File
}

// Missing names the first program a private libvirtd needs that is not
// installed, with the command that installs it; nil when none is.
func Missing() error {
	for _, prog := range []string{"libvirtd", "virsh", "auditd", "auditctl", "unshare", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(prog); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + prog); err2 != nil {
				return fmt.Errorf("%s is missing; install it with: %s", prog, Packages)
			}
		}
	}
	return nil
}

// Start runs hack/libvirt/ns.sh of the checkout at repoRoot with dir as its
// folder, its output to out, and waits until libvirtd answers and auditd
// writes its log. It waits first for any other private auditd to stop.
func Start(ctx context.Context, repoRoot, dir string, out io.Writer) (_ *Daemon, err error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	lock, err := acquire(ctx)
	if err != nil {
		return nil, err
	}
	killPrivateAuditds() // an earlier holder's, had it died without Stop
	cmd := exec.Command("unshare", "-m", filepath.Join(repoRoot, "hack", "libvirt", "ns.sh"), dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lock.Close()
		return nil, err
	}
	daemon := &Daemon{Dir: dir, URI: "qemu:///system?socket=" + filepath.Join(dir, "run", "libvirt-sock"), cmd: cmd, lock: lock}
	defer func() {
		if err != nil {
			daemon.Stop()
		}
	}()
	err = poll(ctx, time.Minute, func() error {
		if _, err := Virsh(daemon.URI, "version"); err != nil {
			return err
		}
		_, err := os.Stat(daemon.AuditLog())
		return err
	})
	return daemon, err
}

// AuditLog is the private auditd's log.
func (d *Daemon) AuditLog() string { return filepath.Join(d.Dir, "audit", "audit.log") }

// SocketDir is the folder of libvirtd's socket (libvirt-sock), what
// /run/libvirt is to a host's libvirtd.
func (d *Daemon) SocketDir() string { return filepath.Join(d.Dir, "run") }

// Stop stops libvirtd, the domains' QEMUs and auditd, and turns kernel
// auditing off (starting auditd turned it on).
func (d *Daemon) Stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	_ = d.cmd.Wait()
	// Whatever outlived the script would keep the kernel's one audit
	// daemon slot, and the next private auditd, of this process or
	// another, would fail to start: the rest of its process group, and
	// auditd, which makes itself a session leader and so leaves the group.
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	killPrivateAuditds()
	_ = exec.Command("auditctl", "-e", "0").Run()
	d.lock.Close() // releases the lock
}

// killPrivateAuditds kills every private auditd of this package's (one
// whose configuration folder is a private daemon's auditconf) and waits
// until they are gone. Called with the lock held, so none of them belongs
// to a daemon still running: a leftover of a test process that died
// without Stop, or of a script killed before it could stop its auditd.
func killPrivateAuditds() {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(args[0]) == "auditd" && slices.ContainsFunc(args, func(a string) bool { return strings.HasSuffix(a, "/auditconf") }) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
	}
	_ = poll(context.Background(), 10*time.Second, func() error {
		for _, pid := range pids {
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
				return fmt.Errorf("auditd %d still runs", pid)
			}
		}
		return nil
	})
}

// Virsh runs virsh against uri and returns its output.
func Virsh(uri string, args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-c", uri}, args...)...).CombinedOutput()
	return string(out), err
}

// DomainXML is a 64 MiB domain booting disk (see BootDisk); ACPI lets a
// disk be hot-plugged on its PCI bus.
func DomainXML(name, uuid, disk string) string {
	return `<domain type='qemu'><name>` + name + `</name><uuid>` + uuid + `</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='` + disk + `'/><target dev='hda' bus='ide'/></disk>
<interface type='ethernet'><mac address='52:54:00:12:34:56'/><model type='e1000'/></interface>
</devices></domain>`
}

// BootDisk writes a disk image whose boot sector loops forever (jmp $).
func BootDisk(path string) error {
	boot := make([]byte, 512)
	boot[0], boot[1], boot[510], boot[511] = 0xEB, 0xFE, 0x55, 0xAA
	return os.WriteFile(path, boot, 0o600)
}

// acquire takes the private-auditd lock, waiting while another holds it.
func acquire(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	err = poll(ctx, 30*time.Minute, func() error {
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("waiting for another private auditd to stop (%s): %w", lockPath, err)
	}
	return f, nil
}

// poll calls fn until it succeeds or timeout passes.
func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
