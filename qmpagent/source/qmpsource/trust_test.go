package qmpsource

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
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

	for _, tc := range []struct {
		name, path string
		roots      []string
		want       string
		err        error
	}{
		{"socket under the root", filepath.Join(root, "vms", "a.qmp"), []string{root}, filepath.Join(root, "vms", "a.qmp"), nil},
		{"symlink staying inside", filepath.Join(root, "alias.qmp"), []string{root}, filepath.Join(root, "vms", "a.qmp"), nil},
		{"root given through a symlink", filepath.Join(root, "vms", "a.qmp"), []string{rootLink}, filepath.Join(root, "vms", "a.qmp"), nil},
		{"socket outside", filepath.Join(outside, "runtime.sock"), []string{root}, "", ErrUntrusted},
		{"symlink escaping", filepath.Join(root, "escape.qmp"), []string{root}, "", ErrUntrusted},
		{"folder symlink escaping", filepath.Join(root, "dirlink", "runtime.sock"), []string{root}, "", ErrUntrusted},
		{"dot-dot escaping", filepath.Join(root, "..", "outside", "runtime.sock"), []string{root}, "", ErrUntrusted},
		{"the root itself", root, []string{root}, "", ErrUntrusted},
		{"not a socket", filepath.Join(root, "file.qmp"), []string{root}, "", ErrUntrusted},
		{"relative", "vms/a.qmp", []string{root}, "", ErrUntrusted},
		{"missing", filepath.Join(root, "none.qmp"), []string{root}, "", ErrNoSocket},
		{"second root", filepath.Join(outside, "runtime.sock"), []string{root, outside}, filepath.Join(outside, "runtime.sock"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.path, tc.roots)
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
