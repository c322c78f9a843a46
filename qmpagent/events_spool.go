package qmpagent

import (
	"context"
	"sync"
	"time"
)

// earlyKeepInterval spaces the early saves of one Warning series (a burst
// of two, then one per interval on average: Coalescer). A storm on one disk
// then costs about 100 small file writes a second, and an agent killed
// mid-storm loses the part of the storm's count it read since the last
// save: a few tens of milliseconds' worth while the disk keeps up.
const earlyKeepInterval = 10 * time.Millisecond

// seriesSpool keeps Event series in a node-local folder so that what the
// agent has read survives it:
//
//   - a Warning series as soon as an occurrence joins it ("early"): a fault
//     waiting behind the client's rate limit, or in a write that is slow,
//     is on disk when the agent is SIGKILLed or OOM-killed;
//   - any series whose write failed (an apiserver outage), Normal ones too.
//
// A series' file goes away once the apiserver holds at least the count the
// file says. Early saves skip fsync while the apiserver answers: they are
// there for the agent process dying, which leaves the page cache intact.
// Once a write of the series failed, every save of it is fsynced (file and
// folder), because an outage may well be a node's or a cluster's restart.
type seriesSpool struct {
	spool *Spool[string, seriesSnapshot]
	// early saves Warning series off the publishing goroutine, newest
	// value per series, at most once per earlyKeepInterval.
	early *Coalescer[string, seriesSnapshot]
	// onError is told what the spool could not keep.
	onError func(error)

	// mu orders the saves and deletes of a series' file against the news
	// that a write succeeded, so a stale save never follows a delete.
	mu    sync.Mutex
	marks map[string]spoolMark
}

// spoolMark is what is known of a series' file and of the apiserver's copy.
// A key's series can change (a new Event after the series window): a mark
// is about the series named name only.
type spoolMark struct {
	name    string
	kept    int64 // count in the series' file, 0 for no file
	synced  int64 // count last saved with fsync, 0 for none
	written int64 // highest count the apiserver accepted
}

func newSeriesSpool(dir string, maxEntries int, onError func(error)) (*seriesSpool, error) {
	s, err := NewSpool[string, seriesSnapshot](dir, maxEntries)
	if err != nil {
		return nil, err
	}
	ss := &seriesSpool{spool: s, onError: onError, marks: map[string]spoolMark{}}
	ss.early = NewCoalescer("events-spool", earlyKeepInterval, ss.keepEarly)
	return ss, nil
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

// keepEarly is the early Coalescer's write: it never fails (a failure is
// reported, and the series stays in memory), so a full disk does not make
// the Coalescer retry forever.
func (ss *seriesSpool) keepEarly(_ context.Context, key string, snap seriesSnapshot) error {
	ss.keep(key, snap, false)
	return nil
}

// keep saves snap unless the file (synced, if sync is asked) or the
// apiserver already has its count.
func (ss *seriesSpool) keep(key string, snap seriesSnapshot, sync bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m := ss.marks[key]
	if m.name != snap.Name {
		m = spoolMark{name: snap.Name} // a new series; the old one was all written
	}
	sync = sync || m.synced > 0 // a series whose write failed stays synced
	if snap.Count <= m.written || snap.Count <= m.kept && (!sync || snap.Count <= m.synced) {
		return
	}
	if err := ss.spool.save(key, snap, sync); err != nil {
		if ss.onError != nil {
			ss.onError(err)
		}
		return
	}
	m.kept = snap.Count
	if sync {
		m.synced = snap.Count
	}
	ss.marks[key] = m
}

// written records that the apiserver holds count for the series named name,
// and drops its file once it says no more than that.
func (ss *seriesSpool) written(key, name string, count int64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m, ok := ss.marks[key]
	switch {
	case count == 0:
		return // the series was forgotten meanwhile
	case !ok:
		// Remembered even with no file, so that an early save still on its
		// way (of a count the apiserver now has) is skipped. Pruned with
		// the series (forget).
		m = spoolMark{name: name}
	case m.name != name:
		if m.kept > 0 {
			return // a late write of an older series; the file is another's
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
	ss.marks[key] = m
}

// forget drops a series for good: its object is gone, or its window closed
// with everything written.
func (ss *seriesSpool) forget(key string) {
	ss.early.Forget(key)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.marks[key].kept > 0 {
		_ = ss.spool.Delete(key)
	}
	delete(ss.marks, key)
}
