package qmpsource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrUntrusted is returned for a socket outside the trusted roots: the agent
// never connects to it, whatever the VirtualMachine says.
var ErrUntrusted = errors.New("socket outside the trusted roots")

// ErrNoSocket is returned while the socket does not exist (yet).
var ErrNoSocket = errors.New("no socket at that path")

// Resolve returns the real path of a QMP socket after resolving every
// symlink, or an error if that path is not under one of roots (themselves
// resolved) or is not a socket. A VirtualMachine's spec is written by
// whoever may create VMs; the agent runs as root on the node, so a socket
// path is trusted only where the node's operator said VMs' sockets live —
// never, say, a container runtime's socket.
func Resolve(path string, roots []string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%w: %q is not an absolute path", ErrUntrusted, path)
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s", ErrNoSocket, path)
	}
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", path, err)
	}
	if !under(real, roots) {
		msg := fmt.Sprintf("%s is not under a trusted socket root (%s)", path, strings.Join(roots, ", "))
		if real != filepath.Clean(path) {
			msg += "; it resolves to " + real
		}
		return "", fmt.Errorf("%w: %s", ErrUntrusted, msg)
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNoSocket, path, err)
	}
	if info.Mode()&fs.ModeSocket == 0 {
		return "", fmt.Errorf("%w: %s is a %s, not a unix socket", ErrUntrusted, path, kind(info.Mode()))
	}
	return real, nil
}

func under(real string, roots []string) bool {
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(r, real)
		if err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	default:
		return "special file"
	}
}
