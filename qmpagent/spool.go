package qmpagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vmevents/vmevents/qmpagent/journal"
	"github.com/vmevents/vmevents/qmpagent/metrics"
)

// Spool keeps values in a node-local folder, in a write-ahead journal
// (package journal), so that what the agent has read survives its
// restart, SIGKILL included: the status facts and Event series are saved
// before any write can carry them to the apiserver, and deleted once the
// apiserver holds them (and nothing newer was saved meanwhile), so a
// healthy agent's journal holds little more than what is on its way.
// Saves are written to the file at once (the page cache outlives the
// process) and fsynced within a second, or at once with Sync (after a
// failed write: an outage may be the node's).
type Spool[K comparable, V any] struct {
	j *journal.Journal
	// kept is what the journal held when opened, and old spool files taken
	// in (loaded); Load returns it.
	kept map[K]V
	errs []error
}

// ErrSpoolFull is returned by Save when the spool holds its most values.
var ErrSpoolFull = journal.ErrFull

// NewSpool opens the spool in dir, creating it. dir must be a folder of
// this process's user, not a symlink; its mode is made 0700: the agent runs
// as root, and what it loads from the spool it writes to the apiserver.
// One process (one Spool) at a time has a folder.
func NewSpool[K comparable, V any](dir string, maxEntries int) (*Spool[K, V], error) {
	j, errs, err := journal.Open(dir, journal.Options{
		MaxEntries: maxEntries,
		OnAppend: func(records, bytes int) {
			metrics.JournalAppends.Add(float64(records))
			metrics.JournalBytes.Add(float64(bytes))
		},
		OnSync: metrics.JournalFsyncs.Inc,
	})
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool[K, V]{j: j, kept: map[K]V{}, errs: errs}
	for raw, data := range j.Live() {
		var key K
		var v V
		if err := errors.Join(json.Unmarshal([]byte(raw), &key), json.Unmarshal(data, &v)); err != nil {
			s.errs = append(s.errs, fmt.Errorf("spool %s: a value of key %.80q: %w", dir, raw, err))
			_ = j.Delete(raw)
			continue
		}
		s.kept[key] = v
	}
	s.errs = append(s.errs, s.takeInFiles(dir)...)
	return s, nil
}

// Load returns every value kept when the spool was opened, and what it
// could not read (dropped: a damaged record must not block the spool).
func (s *Spool[K, V]) Load() (map[K]V, []error) { return s.kept, s.errs }

// Save keeps v for key, replacing what was kept, once written to the file.
func (s *Spool[K, V]) Save(key K, v V) error {
	k, data, err := s.encode(key, v)
	if err != nil {
		return err
	}
	return s.j.Put(k, data)
}

// Sync makes what was saved survive the node, not only the process.
func (s *Spool[K, V]) Sync() error { return s.j.Sync() }

// Delete forgets key's value.
func (s *Spool[K, V]) Delete(key K) error {
	k, err := json.Marshal(key)
	if err != nil {
		return err
	}
	return s.j.Delete(string(k))
}

// DeleteIf forgets key's value if it is v: the value just written to the
// apiserver, unless a newer one was saved meanwhile.
func (s *Spool[K, V]) DeleteIf(key K, v V) error {
	k, data, err := s.encode(key, v)
	if err != nil {
		return err
	}
	return s.j.DeleteIf(k, data)
}

// Len is the number of values kept.
func (s *Spool[K, V]) Len() int { return s.j.Len() }

// Close syncs and closes the spool.
func (s *Spool[K, V]) Close() error { return s.j.Close() }

func (s *Spool[K, V]) encode(key K, v V) (string, []byte, error) {
	k, err := json.Marshal(key)
	if err != nil {
		return "", nil, err
	}
	data, err := json.Marshal(v)
	return string(k), data, err
}

// oldEntry is a file of the spool before the journal: one per key.
type oldEntry[K comparable, V any] struct {
	Key   K `json:"key"`
	Value V `json:"value"`
}

// takeInFiles moves the per-key files an older agent left in dir into the
// journal (an upgrade during an outage loses nothing), newest journal
// value first: a file is never newer than what this format's journal says.
func (s *Spool[K, V]) takeInFiles(dir string) []error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []error{err}
	}
	var errs []error
	var taken []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".json.tmp") || strings.Contains(e.Name(), ".json.") && strings.HasSuffix(e.Name(), ".tmp"):
			_ = os.Remove(p) // an interrupted save of the old format
			continue
		case e.IsDir() || !strings.HasSuffix(e.Name(), ".json"):
			continue
		}
		data, err := readRegular(p)
		var entry oldEntry[K, V]
		if err == nil {
			err = json.Unmarshal(data, &entry)
		}
		if err == nil {
			if _, newer := s.kept[entry.Key]; !newer {
				if err = s.Save(entry.Key, entry.Value); err == nil {
					s.kept[entry.Key] = entry.Value
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spool file %s: %w", p, err))
		}
		taken = append(taken, p)
	}
	if len(taken) == 0 {
		return errs
	}
	// In the journal, fsynced, before the files go.
	if err := s.j.Sync(); err != nil {
		return append(errs, err)
	}
	for _, p := range taken {
		_ = os.Remove(p)
	}
	return errs
}

// maxSpoolFile bounds what is read of an old spool file: far more than a
// VM's facts (the apiserver takes no object over 1.5 MiB).
const maxSpoolFile = 4 << 20

// readRegular reads a regular file without following a symlink and without
// waiting on a FIFO: what sits in the spool folder under an entry's name is
// not trusted to be what an agent wrote there.
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
