package qmpagent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Spool keeps values in a node-local folder, one file per key, so that
// what the apiserver has not accepted survives an agent restart: a fault
// during an apiserver outage is published once the agent (restarted or not)
// reaches the apiserver again. Which values are kept is the caller's
// choice: a Coalescer keeps those whose write failed, the Events publisher
// also keeps a fault as soon as it is read; both remove a value once the
// apiserver has it, so a healthy agent's spool stays (nearly) empty.
type Spool[K comparable, V any] struct {
	dir string
	// MaxEntries bounds the folder; past it new values are not kept (the
	// in-memory retry still has them) and Save says so.
	MaxEntries int

	// mu guards entries, the number of files in dir, counted once and then
	// kept up to date, so a Save need not list the folder.
	mu      sync.Mutex
	entries int
	counted bool
}

// ErrSpoolFull is returned by Save when the spool holds MaxEntries values.
var ErrSpoolFull = errors.New("spool full")

// NewSpool returns a spool in dir, creating it. dir must be a folder of
// this process's user, not a symlink; its mode is made 0700: the agent runs
// as root, and what it loads from the spool it writes to the apiserver.
func NewSpool[K comparable, V any](dir string, maxEntries int) (*Spool[K, V], error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := ownFolder(dir); err != nil {
		return nil, fmt.Errorf("spool: %s: %w", dir, err)
	}
	return &Spool[K, V]{dir: dir, MaxEntries: maxEntries}, nil
}

// ownFolder checks that dir is a folder (not a symlink to one) owned by
// this process's user, and makes its mode 0700, through one descriptor so
// that the folder checked is the folder changed.
func ownFolder(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return errors.New("not a folder (a symlink or a file)")
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by uid %d, not by this process's uid %d", st.Uid, os.Geteuid())
	}
	if st.Mode&0o7777 != 0o700 {
		return unix.Fchmod(fd, 0o700)
	}
	return nil
}

type spoolEntry[K comparable, V any] struct {
	Key   K `json:"key"`
	Value V `json:"value"`
}

func (s *Spool[K, V]) path(key K) (string, error) {
	b, err := json.Marshal(key)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return filepath.Join(s.dir, hex.EncodeToString(sum[:16])+".json"), nil
}

// Save keeps v for key, replacing what was kept, and syncs it to disk. It
// writes a temporary file and renames it, so a crash leaves either the old
// value or the new one.
func (s *Spool[K, V]) Save(key K, v V) error { return s.save(key, v, true) }

// save is Save, with the fsync optional: a value kept only against the
// agent process dying needs none, the page cache outlives the process.
func (s *Spool[K, V]) save(key K, v V, sync bool) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	_, statErr := os.Lstat(p)
	isNew := errors.Is(statErr, fs.ErrNotExist)
	if isNew && s.MaxEntries > 0 && s.count() >= s.MaxEntries {
		return ErrSpoolFull
	}
	data, err := json.Marshal(spoolEntry[K, V]{Key: key, Value: v})
	if err != nil {
		return err
	}
	// A new file of a random name (O_EXCL): whatever sits in the folder,
	// a symlink planted at a predictable temporary name included, is never
	// opened, let alone followed.
	f, err := os.CreateTemp(s.dir, filepath.Base(p)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	var serr error
	if sync {
		serr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if sync {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	if isNew {
		s.adjust(1)
	}
	return nil
}

// count returns the number of files kept, listing the folder only once.
func (s *Spool[K, V]) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.counted {
		entries, _ := os.ReadDir(s.dir)
		s.entries, s.counted = len(entries), true
	}
	return s.entries
}

// adjust changes the count of files, if it was counted yet.
func (s *Spool[K, V]) adjust(by int) {
	s.mu.Lock()
	if s.counted {
		s.entries = max(0, s.entries+by)
	}
	s.mu.Unlock()
}

// Delete forgets key's value.
func (s *Spool[K, V]) Delete(key K) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	switch err := os.Remove(p); {
	case err == nil:
		s.adjust(-1)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return nil
}

// Load returns every value kept, and the files it could not read (which it
// removes: a torn or foreign file must not block the spool forever).
func (s *Spool[K, V]) Load() (map[K]V, []error) {
	out := map[K]V{}
	var errs []error
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return out, []error{err}
	}
	for _, e := range entries {
		p := filepath.Join(s.dir, e.Name())
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			if strings.HasSuffix(e.Name(), ".tmp") {
				_ = os.Remove(p) // an interrupted Save
			}
			continue
		}
		data, err := readRegular(p)
		var entry spoolEntry[K, V]
		if err == nil {
			err = json.Unmarshal(data, &entry)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spool file %s: %w", p, err))
			_ = os.Remove(p)
			continue
		}
		out[entry.Key] = entry.Value
	}
	s.mu.Lock()
	s.counted = false // Load removed files: count again when needed
	s.mu.Unlock()
	return out, errs
}

// maxSpoolFile bounds what Load reads of one file: far more than a VM's
// facts (the apiserver takes no object over 1.5 MiB).
const maxSpoolFile = 4 << 20

// readRegular reads a regular file without following a symlink and without
// waiting on a FIFO: what sits in the spool folder under an entry's name is
// not trusted to be what Save wrote there.
func readRegular(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSpoolFile+1))
	if err == nil && len(data) > maxSpoolFile {
		err = fmt.Errorf("larger than %d bytes", maxSpoolFile)
	}
	return data, err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
