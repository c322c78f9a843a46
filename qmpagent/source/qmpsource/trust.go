package qmpsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// ErrUntrusted is returned for a socket outside the trusted roots: the agent
// never connects to it, whatever the VirtualMachine says.
var ErrUntrusted = errors.New("socket outside the trusted roots")

// ErrNoSocket is returned while the socket does not exist (yet).
var ErrNoSocket = errors.New("no socket at that path")

// Resolve returns the real path of a QMP socket after resolving every
// symlink, or an error if that path is not beneath folder (a relative
// name, "" for the whole root: see source.Tenancy.SocketFolder) of one of
// roots (themselves resolved) or is not a socket. A VirtualMachine's spec
// is written by whoever may create VMs; the agent runs as root on the
// node, so a socket path is trusted only where the node's operator said
// that namespace's VMs' sockets live — never, say, a container runtime's
// socket, nor another tenant's VM.
func Resolve(path string, roots []string, folder string) (string, error) {
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
	if !under(real, roots, folder) {
		return "", refusal(path, real, roots, folder)
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

// refusal says why real (path resolved) may not be used: outside every
// root (ErrUntrusted), or under a root but not beneath the folder granted
// (source.ErrNotGranted), naming the folders that are.
func refusal(path, real string, roots []string, folder string) error {
	resolves := ""
	if real != filepath.Clean(path) {
		resolves = "; it resolves to " + real
	}
	if folder == "" || !under(real, roots, "") {
		return fmt.Errorf("%w: %s is not under a trusted socket root (%s)%s", ErrUntrusted, path, strings.Join(roots, ", "), resolves)
	}
	granted := make([]string, len(roots))
	for i, r := range roots {
		granted[i] = filepath.Join(r, folder) + string(filepath.Separator)
	}
	return fmt.Errorf("%w: VirtualMachines in namespace %q may use only sockets beneath %s (the agent runs with %s=%s), and %s is not%s",
		source.ErrNotGranted, folder, strings.Join(granted, ", "), source.TenancyFlag, source.TenancyNamespace, path, resolves)
}

// under reports whether real lies beneath folder of one of roots.
func under(real string, roots []string, folder string) bool {
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if _, ok := beneath(filepath.Join(r, folder), real); ok {
			return true
		}
	}
	return false
}

// beneath returns real's path relative to the resolved root r, if it lies
// strictly beneath it.
func beneath(r, real string) (string, bool) {
	rel, err := filepath.Rel(r, real)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
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

// Socket is a QMP socket opened where Resolve checked it: it holds the
// socket's inode, so a connection made through Dial reaches that very
// socket even if a folder on the way is swapped for a symlink after the
// check (the agent runs as root; whoever can write under a socket root
// must not be able to redirect it to, say, a container runtime's socket).
type Socket struct {
	// Path is the socket's resolved path, under a trusted root.
	Path string
	// ModTime is the socket's time: QEMU creates it at start-up.
	ModTime time.Time
	fd      int
}

// OpenSocket resolves path like Resolve, then opens the socket it checked
// without following any symlink: beneath the root it was found under
// (openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS, from the root
// itself, so that the namespace's folder cannot be a symlink either), and
// verified again through the opened descriptor (a socket, whose path is
// beneath folder of a root). The caller closes it.
func OpenSocket(path string, roots []string, folder string) (*Socket, error) {
	real, err := Resolve(path, roots, folder)
	if err != nil {
		return nil, err
	}
	fd, err := openBeneath(real, roots, folder)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoSocket, path)
		}
		return nil, fmt.Errorf("%w: %s changed while it was checked (%v)", ErrUntrusted, path, err)
	}
	s := &Socket{Path: real, fd: fd}
	if err := s.verify(roots, folder); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %s changed while it was checked (%v)", ErrUntrusted, path, err)
	}
	return s, nil
}

// openBeneath opens real (resolved, beneath folder of a root) with
// O_PATH, refusing any symlink on the way: real has none left, so one now
// means a swap.
func openBeneath(real string, roots []string, folder string) (int, error) {
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if _, ok := beneath(filepath.Join(r, folder), real); !ok {
			continue
		}
		rel, _ := beneath(r, real)
		dir, err := unix.Open(r, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		fd, err := unix.Openat2(dir, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		_ = unix.Close(dir)
		if errors.Is(err, unix.ENOSYS) {
			// No openat2 (Linux before 5.6, or a seccomp filter): open
			// without following a final symlink; verify catches a folder
			// swapped on the way through the descriptor's own path.
			fd, err = unix.Open(real, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		return fd, err
	}
	return -1, errors.New("under no root")
}

// verify checks the opened descriptor: a socket, whose path (as the kernel
// names the inode held) is beneath folder of a root.
func (s *Socket) verify(roots []string, folder string) error {
	var st unix.Stat_t
	if err := unix.Fstat(s.fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return errors.New("not a unix socket")
	}
	held, err := os.Readlink(s.proc())
	if err != nil {
		return err
	}
	if !under(held, roots, folder) {
		return fmt.Errorf("it is %s", held)
	}
	s.ModTime = time.Unix(st.Mtim.Unix())
	return nil
}

// proc is the magic link to the socket held: connect(2) through it reaches
// the inode, whatever its path has become.
func (s *Socket) proc() string { return "/proc/self/fd/" + strconv.Itoa(s.fd) }

// Dial connects to the socket held.
func (s *Socket) Dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", s.proc())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.Path, unwrapOp(err))
	}
	return nc, nil
}

// unwrapOp drops net.OpError's address (the /proc magic link, meaningless
// to a user) and keeps the cause.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

// Close releases the descriptor.
func (s *Socket) Close() { _ = unix.Close(s.fd) }

// QMP connects to the socket held and runs the QMP handshake over it.
func (s *Socket) QMP(ctx context.Context, opts qmp.Options) (*qmp.Conn, error) {
	nc, err := s.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	conn, err := qmp.NewConn(ctx, nc, opts)
	if err != nil {
		return nil, fmt.Errorf("qmp: %s: %w", s.Path, err)
	}
	return conn, nil
}

// DialQMP opens the socket at path as OpenSocket does and runs the QMP
// handshake over it. It returns the connection and the socket (closed:
// its Path and ModTime stay valid).
func DialQMP(ctx context.Context, path string, roots []string, folder string, opts qmp.Options) (*qmp.Conn, *Socket, error) {
	s, err := OpenSocket(path, roots, folder)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	conn, err := s.QMP(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return conn, s, nil
}
