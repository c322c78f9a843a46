// Package privatelxd runs a private LXD daemon for the suites: its own
// LXD_DIR and LXD_CONF under a folder of the test's, never the system's
// LXD, with a dir storage pool and an offline busybox image
// (hack/lxd/busybox-image.sh).
package privatelxd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Packages is the Debian install command for what a private LXD needs.
const Packages = "apt-get install -y --no-install-recommends lxd lxd-client busybox-static"

// Image is the alias of the busybox image Prepare imports.
const Image = "bb"

// Daemon is a private LXD.
type Daemon struct {
	// Dir holds everything: state/ is LXD_DIR, conf/ is LXD_CONF.
	Dir string
	// Env is the environment that points lxd and lxc at this daemon.
	Env    []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Missing names the first program a private LXD needs that is not
// installed, with the command that installs it; nil when none is.
func Missing() error {
	for _, bin := range []string{"lxd", "lxc", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed; a private LXD needs: %s", bin, Packages)
		}
	}
	return nil
}

// New makes the daemon's folder, a new one under the temp dir (its
// parents must be traversable: not a test's nested temp dir); Start starts
// the daemon, Stop removes the folder.
func New() (*Daemon, error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vmevents-lxd")
	if err != nil {
		return nil, err
	}
	// Containers run as remapped uids: they must be able to traverse to
	// their rootfs (MkdirTemp makes 0700).
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o711); err != nil {
		return nil, err
	}
	return &Daemon{Dir: dir, Env: append(os.Environ(), "LXD_DIR="+filepath.Join(dir, "state"), "LXD_CONF="+filepath.Join(dir, "conf"))}, nil
}

// StateDir is LXD_DIR, what /var/lib/lxd is to Debian's LXD.
func (d *Daemon) StateDir() string { return filepath.Join(d.Dir, "state") }

// Socket is LXD's unix socket.
func (d *Daemon) Socket() string { return filepath.Join(d.StateDir(), "unix.socket") }

// Start starts the daemon, its output to out, and waits until it is ready.
// A daemon that exited (Exited) may be started again.
func (d *Daemon) Start(out io.Writer) error {
	cmd := exec.Command("lxd", "--group", "root", "--logfile", filepath.Join(d.Dir, "lxd.log"))
	cmd.Env = d.Env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.cmd, d.exited = cmd, exited
	_, err := d.Run("lxd", "waitready", "--timeout=60")
	return err
}

// Exited is closed when the daemon last started has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.exited }

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig os.Signal) error { return d.cmd.Process.Signal(sig) }

// Stop shuts the daemon down (its instances with it), killing it if it
// takes longer than a minute and a half, and removes its folder.
func (d *Daemon) Stop() {
	defer os.RemoveAll(d.Dir)
	if d.cmd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "lxd", "shutdown", "--timeout=60")
	cmd.Env = d.Env
	_ = cmd.Run()
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// Run runs a program (lxc, lxd) against the daemon and returns its output.
func (d *Daemon) Run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = d.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w\n%s", name, args, err, out)
	}
	return string(out), nil
}

// Prepare gives a new daemon a dir storage pool on the default profile and
// the busybox image as Image, built with hack/lxd/busybox-image.sh of the
// checkout at repoRoot.
func (d *Daemon) Prepare(repoRoot string) error {
	image := filepath.Join(d.Dir, "busybox.tar.gz")
	for _, step := range [][]string{
		{"lxc", "storage", "create", "default", "dir"},
		{"lxc", "profile", "device", "add", "default", "root", "disk", "path=/", "pool=default"},
		{filepath.Join(repoRoot, "hack", "lxd", "busybox-image.sh"), image},
		{"lxc", "image", "import", image, "--alias", Image},
	} {
		if _, err := d.Run(step[0], step[1:]...); err != nil {
			return err
		}
	}
	return nil
}
