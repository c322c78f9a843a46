// Package journal is a write-ahead log of key-value snapshots in one
// append-only file: what a process has read is in the file (the kernel's
// page cache, which outlives the process) before it acts on it, and is
// found again after the process is killed at any point.
//
// A Put returns once its record is written to the file. Appenders that
// come at the same time share one write(2) (group commit): whichever of
// them finds no write in progress writes everything queued. fsync is
// grouped apart, in the background at most once per Options.SyncEvery
// while there is something unsynced, or at once with Sync (for values that
// must survive the node, not only the process). The file is rewritten with
// only its live values (compaction) when it has grown large and mostly
// dead. On open a torn last record (an append cut short) is cut off;
// damage is reported and what follows it dropped.
package journal

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FileName is the journal's file in its folder.
const FileName = "journal"

// Options bound and tune a journal; the zero value takes the defaults.
type Options struct {
	// MaxEntries bounds the live keys: a Put of a new key past it fails
	// with ErrFull. 0 is unbounded.
	MaxEntries int
	// MaxBytes bounds the live values' bytes (ErrFull past it); 0 is
	// DefaultMaxBytes.
	MaxBytes int64
	// SyncEvery is the most time written records wait for their fsync; 0
	// is DefaultSyncEvery, negative never (only Sync does).
	SyncEvery time.Duration
	// CompactAt is the file size from which a file holding at least twice
	// its live bytes is compacted; 0 is DefaultCompactAt.
	CompactAt int64
	// OnAppend, when set, is told of every write(2): the records and bytes
	// it carried. OnSync of every fsync.
	OnAppend func(records, bytes int)
	OnSync   func()
}

// Defaults of Options.
const (
	DefaultMaxBytes  = 256 << 20
	DefaultSyncEvery = time.Second
	DefaultCompactAt = 16 << 20
)

// ErrFull is returned by Put when the journal holds Options.MaxEntries keys
// or Options.MaxBytes bytes of values.
var ErrFull = errors.New("journal full")

// ErrClosed is returned by a journal's operations once it is closed.
var ErrClosed = errors.New("journal closed")

// Journal is a write-ahead log of the newest value per key. Its methods
// are safe for concurrent use.
type Journal struct {
	dir  string
	opts Options
	// lock is the folder, held open with an exclusive flock: one process
	// (one Open) per journal.
	lock *os.File

	// fileMu guards f against compaction replacing it: appends and fsyncs
	// take it shared.
	fileMu sync.RWMutex
	f      *os.File

	mu   sync.Mutex
	cond *sync.Cond
	// live is the newest value per key, as written to the file.
	live      map[string][]byte
	liveBytes int64
	// size is the file's size; written counts every byte ever written
	// (across compactions) and synced how many of them are fsynced.
	size, written, synced int64
	// cur collects the records of the next write; flushing says a write
	// is in progress.
	cur      *batch
	flushing bool
	closed   bool
	// retryCompactAt is the size at which a failed compaction is tried
	// again; compactErr its error, for CompactError.
	retryCompactAt int64
	compactErr     error
	stop           chan struct{}
	done           chan struct{}
	// syncMu makes fsyncs one at a time, so that callers waiting for one
	// are served by the next.
	syncMu sync.Mutex
}

// batch is the records of one write(2).
type batch struct {
	buf  []byte
	ops  []record
	done bool
	err  error
}

// Open opens (creating it) the journal in dir, which must be a folder of
// this process's user, not a symlink (its mode is made 0700), and not open
// by another journal. It returns the journal and what it could not read:
// a damaged record, or a file that is not a regular file (set aside as
// FileName.bad); a torn last record is cut off silently.
func Open(dir string, opts Options) (*Journal, []error, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SyncEvery == 0 {
		opts.SyncEvery = DefaultSyncEvery
	}
	if opts.CompactAt <= 0 {
		opts.CompactAt = DefaultCompactAt
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := OwnFolder(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %s: %w", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("journal: %s: in use by another process or journal: %w", dir, err)
	}
	j := &Journal{dir: dir, opts: opts, lock: lock, live: map[string][]byte{}, stop: make(chan struct{}), done: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	errs, err := j.load()
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	go j.syncLoop()
	return j, errs, nil
}

// load reads the file into live, cuts off a torn or damaged tail, and
// compacts the file if it is mostly dead.
func (j *Journal) load() ([]error, error) {
	var errs []error
	p := filepath.Join(j.dir, FileName)
	f, err := openFile(p, unix.O_RDWR|unix.O_CREAT|unix.O_APPEND)
	if errors.Is(err, errNotRegular) {
		errs = append(errs, fmt.Errorf("%s: %w; set aside", p, err))
		if err := os.Rename(p, p+".bad"); err != nil {
			return nil, err
		}
		f, err = openFile(p, unix.O_RDWR|unix.O_CREAT|unix.O_APPEND)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	data, err := readAll(f, 2*j.opts.MaxBytes+4*j.opts.CompactAt)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %s: %w", p, err)
	}
	good, records, rerr := replay(data, j.live)
	if rerr != nil {
		if !errors.Is(rerr, errTorn) {
			errs = append(errs, fmt.Errorf("%s: %w; the %d bytes from there on are dropped", p, rerr, int64(len(data))-good))
		}
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	for _, v := range j.live {
		j.liveBytes += int64(len(v))
	}
	j.f, j.size = f, good
	j.written, j.synced = good, good
	if records > len(j.live) {
		// Anything dead is rewritten away at start: the file is small then.
		if err := j.compactLocked(); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

var errNotRegular = errors.New("not a regular file")

// openFile opens p without following a symlink or waiting on a FIFO and
// checks that it is a regular file: what sits in the folder under the
// journal's name is not trusted to be what the journal wrote.
func openFile(p string, flags int) (*os.File, error) {
	fd, err := unix.Open(p, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, errNotRegular
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, errNotRegular
	}
	// Back to blocking mode: O_NONBLOCK was only against a FIFO.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// Live returns a copy of the newest value of every live key.
func (j *Journal) Live() map[string][]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return maps.Clone(j.live)
}

// Len is the number of live keys.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.live)
}

// Put makes value the newest of key and returns once that is written to
// the file (not fsynced: see Sync). value must not change afterwards.
func (j *Journal) Put(key string, value []byte) error {
	return j.append(record{op: opPut, key: key, value: value})
}

// Delete forgets key. A key that is not live costs nothing.
func (j *Journal) Delete(key string) error {
	return j.append(record{op: opDelete, key: key})
}

// DeleteIf forgets key if its newest value is value: the snapshot a caller
// has just delivered elsewhere, unless a newer one was put meanwhile.
func (j *Journal) DeleteIf(key string, value []byte) error {
	return j.append(record{op: opDelete, key: key, value: value})
}

// append queues r and writes it with whatever else is queued, unless a
// write is in progress: then the appender waits and the next writer (it,
// or another appender of its batch) takes its record along.
func (j *Journal) append(r record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if r.op == opDelete {
		cur, ok := j.pendingValue(r.key)
		if !ok || r.value != nil && !bytes.Equal(cur, r.value) {
			return nil
		}
		r.value = nil
	} else if err := j.fitsLocked(r); err != nil {
		return err
	}
	b := j.cur
	if b == nil {
		b = &batch{}
		j.cur = b
	}
	b.buf = appendRecord(b.buf, r.op, r.key, r.value)
	b.ops = append(b.ops, r)
	for !b.done {
		if j.flushing {
			j.cond.Wait()
			continue
		}
		// Not done and no write in progress: b is still j.cur.
		j.flushing, j.cur = true, nil
		size := j.size
		j.mu.Unlock()
		err := j.writeOut(b.buf, size)
		j.mu.Lock()
		j.finishLocked(b, err)
		j.flushing = false
		j.cond.Broadcast()
	}
	return b.err
}

// pendingValue is key's newest value, counting records queued but not yet
// written; j.mu is held.
func (j *Journal) pendingValue(key string) ([]byte, bool) {
	if j.cur != nil {
		for i := len(j.cur.ops) - 1; i >= 0; i-- {
			if op := j.cur.ops[i]; op.key == key {
				return op.value, op.op == opPut
			}
		}
	}
	v, ok := j.live[key]
	return v, ok
}

// fitsLocked refuses a put that would pass the bounds (counting the
// live values only: a queued put of the same key replaces one).
func (j *Journal) fitsLocked(r record) error {
	old, exists := j.live[r.key]
	if !exists && j.opts.MaxEntries > 0 && len(j.live) >= j.opts.MaxEntries {
		return fmt.Errorf("%w: %d keys", ErrFull, len(j.live))
	}
	if j.liveBytes-int64(len(old))+int64(len(r.value)) > j.opts.MaxBytes {
		return fmt.Errorf("%w: %d bytes", ErrFull, j.liveBytes)
	}
	if len(r.key)+len(r.value)+16 > MaxRecord {
		return fmt.Errorf("journal: a record of %d bytes is over %d", len(r.key)+len(r.value), MaxRecord)
	}
	return nil
}

// writeOut writes buf at the end of the file; a short write is undone, so
// that no partial record sits before the next one.
func (j *Journal) writeOut(buf []byte, size int64) error {
	j.fileMu.RLock()
	defer j.fileMu.RUnlock()
	if j.f == nil {
		return ErrClosed
	}
	n, err := j.f.Write(buf)
	if err != nil && n > 0 {
		err = errors.Join(err, j.f.Truncate(size))
	}
	return err
}

// finishLocked applies a written batch to live (or fails its appenders)
// and compacts the file when it is big and mostly dead; j.mu is held.
func (j *Journal) finishLocked(b *batch, err error) {
	b.done = true
	if err != nil {
		b.err = err
		return
	}
	for _, r := range b.ops {
		old, ok := j.live[r.key]
		if ok {
			j.liveBytes -= int64(len(old))
		}
		if r.op == opPut {
			j.live[r.key] = r.value
			j.liveBytes += int64(len(r.value))
		} else {
			delete(j.live, r.key)
		}
	}
	j.size += int64(len(b.buf))
	j.written += int64(len(b.buf))
	if j.opts.OnAppend != nil {
		j.opts.OnAppend(len(b.ops), len(b.buf))
	}
	if j.size >= max(j.opts.CompactAt, j.retryCompactAt) && j.size >= 2*j.liveBytes+int64(len(j.live))*64 {
		if err := j.compactLocked(); err != nil {
			// The old file stays, whole, and takes the appends; compaction
			// is tried again once it has grown by CompactAt more.
			j.retryCompactAt = j.size + j.opts.CompactAt
			j.compactErr = err
		} else {
			j.retryCompactAt, j.compactErr = 0, nil
		}
	}
}

// compactLocked writes the live values to a new file, fsyncs it, renames
// it over the journal and fsyncs the folder: a crash at any point leaves
// the old file or the new one, each whole. j.mu is held and no write is
// in progress.
func (j *Journal) compactLocked() error {
	var buf []byte
	for k, v := range j.live {
		buf = appendRecord(buf, opPut, k, v)
	}
	p := filepath.Join(j.dir, FileName)
	tmp := p + ".new"
	_ = os.Remove(tmp)
	// O_EXCL: a symlink planted at the temporary name is never followed.
	fd, err := unix.Open(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("journal: compaction: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(buf)
	serr := f.Sync()
	if err := errors.Join(werr, serr); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("journal: compaction: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("journal: compaction: %w", err)
	}
	serr = j.lock.Sync()
	j.fileMu.Lock()
	old := j.f
	j.f = f
	j.fileMu.Unlock()
	if old != nil {
		old.Close()
	}
	j.size = int64(len(buf))
	j.synced = j.written // everything live is in the fsynced new file
	if j.opts.OnSync != nil {
		j.opts.OnSync()
		j.opts.OnSync()
	}
	if serr != nil {
		return fmt.Errorf("journal: compaction: %w", serr)
	}
	return nil
}

// CompactError is the error of the last compaction, if it failed (the
// journal keeps appending to its file; a full disk is the likely cause).
func (j *Journal) CompactError() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.compactErr
}

// Sync returns once everything written before it was called is fsynced.
// Callers at the same time share fsyncs.
func (j *Journal) Sync() error {
	j.mu.Lock()
	want := j.written
	j.mu.Unlock()
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	if j.synced >= want {
		j.mu.Unlock()
		return nil
	}
	upTo := j.written
	j.mu.Unlock()
	j.fileMu.RLock()
	var err error
	if j.f == nil {
		err = ErrClosed
	} else {
		err = j.f.Sync()
	}
	j.fileMu.RUnlock()
	if err != nil {
		return err
	}
	if j.opts.OnSync != nil {
		j.opts.OnSync()
	}
	j.mu.Lock()
	j.synced = max(j.synced, upTo)
	j.mu.Unlock()
	return nil
}

// syncLoop fsyncs what was written, at most once per SyncEvery.
func (j *Journal) syncLoop() {
	defer close(j.done)
	if j.opts.SyncEvery < 0 {
		<-j.stop
		return
	}
	t := time.NewTicker(j.opts.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			_ = j.Sync() // a failure shows again at the next Sync asked for
		}
	}
}

// Close fsyncs what was written and closes the file. Appends after it fail
// with ErrClosed.
func (j *Journal) Close() error {
	err := j.Sync()
	return errors.Join(err, j.shut())
}

// Abandon closes the journal without an fsync and without waiting for
// anything, as the end of a killed process does: what was written stays
// in the file; appends after it fail with ErrClosed. For tests that stand
// in for a crash.
func (j *Journal) Abandon() error { return j.shut() }

func (j *Journal) shut() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	for j.flushing {
		j.cond.Wait()
	}
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	j.fileMu.Lock()
	f := j.f
	j.f = nil
	j.fileMu.Unlock()
	return errors.Join(f.Close(), j.lock.Close())
}

// Read returns the live values of the journal in dir as its file says now,
// without opening the journal (which may be open elsewhere): for tests and
// inspection. A torn tail is ignored.
func Read(dir string) (map[string][]byte, error) {
	f, err := openFile(filepath.Join(dir, FileName), unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readAll(f, 1<<31)
	if err != nil {
		return nil, err
	}
	live := map[string][]byte{}
	if _, _, err := replay(data, live); err != nil && !errors.Is(err, errTorn) {
		return live, err
	}
	return live, nil
}

// OwnFolder checks that dir is a folder (not a symlink to one) owned by
// this process's user, and makes its mode 0700, through one descriptor so
// that the folder checked is the folder changed. It returns that
// descriptor, open.
func OwnFolder(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil, errors.New("not a folder (a symlink or a file)")
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if int(st.Uid) != os.Geteuid() {
		unix.Close(fd)
		return nil, fmt.Errorf("owned by uid %d, not by this process's uid %d", st.Uid, os.Geteuid())
	}
	if st.Mode&0o7777 != 0o700 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), dir), nil
}
