package qmpagent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// NewSpool returns a spool in dir, creating it.
func NewSpool[K comparable, V any](dir string, maxEntries int) (*Spool[K, V], error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Spool[K, V]{dir: dir, MaxEntries: maxEntries}, nil
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
	_, statErr := os.Stat(p)
	isNew := errors.Is(statErr, fs.ErrNotExist)
	if isNew && s.MaxEntries > 0 && s.count() >= s.MaxEntries {
		return ErrSpoolFull
	}
	data, err := json.Marshal(spoolEntry[K, V]{Key: key, Value: v})
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
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
		data, err := os.ReadFile(p)
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

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
