package qmpsource

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmevents/vmevents/qmpagent/source"
)

func listen(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "vms")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	listen(t, filepath.Join(root, "vms", "a.qmp"))
	listen(t, filepath.Join(outside, "runtime.sock"))
	must(t, os.Symlink(filepath.Join(outside, "runtime.sock"), filepath.Join(root, "escape.qmp")))
	must(t, os.Symlink(filepath.Join(root, "vms", "a.qmp"), filepath.Join(root, "alias.qmp")))
	must(t, os.Symlink(outside, filepath.Join(root, "dirlink")))
	must(t, os.WriteFile(filepath.Join(root, "file.qmp"), nil, 0o600))
	rootLink := filepath.Join(dir, "rootlink")
	must(t, os.Symlink(root, rootLink))
	// Tenants' folders: a victim's socket, an intruder's ways to reach it.
	victim, intruder := filepath.Join(root, "victim"), filepath.Join(root, "intruder")
	must(t, os.MkdirAll(filepath.Join(victim, "web"), 0o755))
	must(t, os.MkdirAll(intruder, 0o755))
	listen(t, filepath.Join(victim, "web", "qmp.sock"))
	must(t, os.Symlink(filepath.Join(victim, "web", "qmp.sock"), filepath.Join(intruder, "stolen.qmp")))
	must(t, os.Symlink(victim, filepath.Join(root, "alias-of-victim")))

	for _, tc := range []struct {
		name, path string
		roots      []string
		folder     string
		want       string
		err        error
	}{
		{"socket under the root", filepath.Join(root, "vms", "a.qmp"), []string{root}, "", filepath.Join(root, "vms", "a.qmp"), nil},
		{"symlink staying inside", filepath.Join(root, "alias.qmp"), []string{root}, "", filepath.Join(root, "vms", "a.qmp"), nil},
		{"root given through a symlink", filepath.Join(root, "vms", "a.qmp"), []string{rootLink}, "", filepath.Join(root, "vms", "a.qmp"), nil},
		{"socket outside", filepath.Join(outside, "runtime.sock"), []string{root}, "", "", ErrUntrusted},
		{"symlink escaping", filepath.Join(root, "escape.qmp"), []string{root}, "", "", ErrUntrusted},
		{"folder symlink escaping", filepath.Join(root, "dirlink", "runtime.sock"), []string{root}, "", "", ErrUntrusted},
		{"dot-dot escaping", filepath.Join(root, "..", "outside", "runtime.sock"), []string{root}, "", "", ErrUntrusted},
		{"the root itself", root, []string{root}, "", "", ErrUntrusted},
		{"not a socket", filepath.Join(root, "file.qmp"), []string{root}, "", "", ErrUntrusted},
		{"relative", "vms/a.qmp", []string{root}, "", "", ErrUntrusted},
		{"missing", filepath.Join(root, "none.qmp"), []string{root}, "", "", ErrNoSocket},
		{"second root", filepath.Join(outside, "runtime.sock"), []string{root, outside}, "", filepath.Join(outside, "runtime.sock"), nil},
		{"the namespace's own folder", filepath.Join(victim, "web", "qmp.sock"), []string{root}, "victim", filepath.Join(victim, "web", "qmp.sock"), nil},
		{"another namespace's folder", filepath.Join(victim, "web", "qmp.sock"), []string{root}, "intruder", "", source.ErrNotGranted},
		{"a symlink in the namespace's folder to another's", filepath.Join(intruder, "stolen.qmp"), []string{root}, "intruder", "", source.ErrNotGranted},
		{"a folder symlinked to another's", filepath.Join(root, "alias-of-victim", "web", "qmp.sock"), []string{root}, "alias-of-victim", "", source.ErrNotGranted},
		{"a folder no namespace has", filepath.Join(root, "vms", "a.qmp"), []string{root}, "intruder", "", source.ErrNotGranted},
		{"outside every root, with a folder", filepath.Join(outside, "runtime.sock"), []string{root}, "intruder", "", ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.path, tc.roots, tc.folder)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("Resolve(%s) = %q, %v; want %q, %v", tc.path, got, err, tc.want, tc.err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serveName accepts connections on a unix socket at path, writes name to
// each and closes it; it returns the count of connections accepted.
func serveName(t *testing.T, path, name string) *atomic.Int64 {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_, _ = c.Write([]byte(name))
			_ = c.Close()
		}
	}()
	return &n
}

// TestOpenSocketSwapRace swaps the VM's folder under the root for a
// symlink to a folder outside it, holding a decoy socket of the same name,
// while sockets are opened and connected: a connection must never reach
// the decoy (the check-then-connect race the agent, root on the node,
// would otherwise lose).
func TestOpenSocketSwapRace(t *testing.T) {
	// The swapped folder is a VM's folder under the root, then the
	// namespace's folder itself, which is the root of what the namespace
	// may reach.
	for _, folder := range []string{"", "vm"} {
		t.Run("folder="+folder, func(t *testing.T) { swapRace(t, folder) })
	}
}

func swapRace(t *testing.T, folder string) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	vm := filepath.Join(root, "vm")
	for _, d := range []string{vm, outside} {
		must(t, os.MkdirAll(d, 0o755))
	}
	real := serveName(t, filepath.Join(vm, "qmp.sock"), "real")
	decoy := serveName(t, filepath.Join(outside, "qmp.sock"), "decoy")
	swap := filepath.Join(root, "swap")
	must(t, os.Symlink(outside, swap))

	// The swapper exchanges the folder and the symlink atomically, over
	// and over, until the rounds are done.
	stop := make(chan struct{})
	swapped := make(chan error, 1)
	go func() {
		defer close(swapped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Two exchanges: the folder is back in place after each pair.
			for range 2 {
				if err := unix.Renameat2(unix.AT_FDCWD, vm, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE); err != nil {
					swapped <- err
					return
				}
			}
		}
	}()

	const rounds = 5000
	var connected, refused int
	for range rounds {
		got, err := dialName(filepath.Join(vm, "qmp.sock"), folder)
		switch {
		case err != nil:
			refused++
		case got != "real":
			t.Fatalf("connected to the %s socket outside the root", got)
		default:
			connected++
		}
	}
	close(stop)
	if err := <-swapped; err != nil {
		t.Fatal(err)
	}
	if n := decoy.Load(); n != 0 {
		t.Fatalf("the decoy outside the root accepted %d connections", n)
	}
	t.Logf("%d rounds: %d connected to the real socket, %d refused or missing while swapped", rounds, connected, refused)

	// Not swapped: the real socket is reached.
	before := real.Load()
	got, err := dialName(filepath.Join(vm, "qmp.sock"), folder)
	if err != nil || got != "real" {
		t.Fatalf("with the folder in place: %q, %v; want the real socket", got, err)
	}
	if real.Load() != before+1 {
		t.Fatalf("the real socket accepted %d connections, want %d", real.Load(), before+1)
	}
}

// dialName opens and connects to path under folder of its root and reads
// the name the server at the other end writes.
func dialName(path, folder string) (string, error) {
	root := filepath.Dir(filepath.Dir(path))
	s, err := OpenSocket(path, []string{root}, folder)
	if err != nil {
		return "", err
	}
	defer s.Close()
	c, err := s.Dial(context.Background())
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}
