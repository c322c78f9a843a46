package qmpagent

import "sync"

// seriesSpool keeps Event series in the node-local spool's journal so
// that what the agent has read survives it: every series, Normal and
// Warning, is saved as soon as an occurrence joins it, before its write
// is queued (write-ahead), and deleted once the apiserver holds at least
// the count saved. Saves are fsynced within a second in the background
// while the apiserver answers (they are there for the agent process dying,
// which leaves the page cache intact); once a write of the series failed,
// every save of it is fsynced at once, because an outage may well be a
// node's or a cluster's restart.
type seriesSpool struct {
	spool *Spool[string, seriesSnapshot]
	// onError is told what the spool could not keep.
	onError func(error)

	// keys orders the saves and deletes of a series against the news that
	// a write succeeded, so a stale save never follows a delete. Per
	// series, not one lock for all: a save waits for the file, and saves
	// of different series are then written together (group commit).
	keys keyLocks[string]
	// mu guards marks only; it is never held across the file.
	mu    sync.Mutex
	marks map[string]spoolMark
}

// spoolMark is what is known of a series' file and of the apiserver's copy.
// A key's series can change (a new Event after the series window): a mark
// is about the series named name only.
type spoolMark struct {
	name    string
	kept    int64 // count saved in the spool, 0 for none
	synced  int64 // count last saved with fsync, 0 for none
	written int64 // highest count the apiserver accepted
}

func newSeriesSpool(dir string, maxEntries int, onError func(error)) (*seriesSpool, error) {
	s, err := NewSpool[string, seriesSnapshot](dir, maxEntries)
	if err != nil {
		return nil, err
	}
	return &seriesSpool{spool: s, onError: onError, marks: map[string]spoolMark{}}, nil
}

// load returns the series an earlier run kept, and marks them kept.
func (ss *seriesSpool) load() (map[string]seriesSnapshot, []error) {
	kept, errs := ss.spool.Load()
	ss.mu.Lock()
	for key, snap := range kept {
		ss.marks[key] = spoolMark{name: snap.Name, kept: snap.Count, synced: snap.Count}
	}
	ss.mu.Unlock()
	return kept, errs
}

// keep saves snap unless the spool (synced, if sync is asked) or the
// apiserver already has its count.
func (ss *seriesSpool) keep(key string, snap seriesSnapshot, sync bool) {
	keyMu := ss.keys.of(key)
	keyMu.Lock()
	defer keyMu.Unlock()
	m, _ := ss.mark(key)
	if m.name != snap.Name {
		m = spoolMark{name: snap.Name} // a new series; the old one was all written
	}
	sync = sync || m.synced > 0 // a series whose write failed stays synced
	if snap.Count <= m.written || snap.Count <= m.kept && (!sync || snap.Count <= m.synced) {
		return
	}
	err := ss.spool.Save(key, snap)
	if err == nil && sync {
		err = ss.spool.Sync()
	}
	if err != nil {
		if ss.onError != nil {
			ss.onError(err)
		}
		return
	}
	m.kept = snap.Count
	if sync {
		m.synced = snap.Count
	}
	ss.setMark(key, m)
}

// mark is key's mark; the caller holds key's lock.
func (ss *seriesSpool) mark(key string) (spoolMark, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m, ok := ss.marks[key]
	return m, ok
}

// setMark sets key's mark; the caller holds key's lock.
func (ss *seriesSpool) setMark(key string, m spoolMark) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.marks[key] = m
}

// written records that the apiserver holds count for the series named name,
// and drops it from the spool once that says no more than that.
func (ss *seriesSpool) written(key, name string, count int64) {
	keyMu := ss.keys.of(key)
	keyMu.Lock()
	defer keyMu.Unlock()
	m, ok := ss.mark(key)
	switch {
	case count == 0:
		return // the series was forgotten meanwhile
	case !ok:
		// Remembered even with nothing saved, so that a save still on its
		// way (of a count the apiserver now has) is skipped. Pruned with
		// the series (forget).
		m = spoolMark{name: name}
	case m.name != name:
		if m.kept > 0 {
			return // a late write of an older series; the saved one is another's
		}
		m = spoolMark{name: name} // the key's new series
	}
	m.written = max(m.written, count)
	if m.kept > 0 && m.kept <= m.written {
		if err := ss.spool.Delete(key); err != nil && ss.onError != nil {
			ss.onError(err)
		}
		m.kept, m.synced = 0, 0
	}
	ss.setMark(key, m)
}

// forget drops a series for good: its object is gone, or its window closed
// with everything written.
func (ss *seriesSpool) forget(key string) {
	keyMu := ss.keys.of(key)
	keyMu.Lock()
	defer keyMu.Unlock()
	if m, _ := ss.mark(key); m.kept > 0 {
		_ = ss.spool.Delete(key)
	}
	ss.mu.Lock()
	delete(ss.marks, key)
	ss.mu.Unlock()
}
