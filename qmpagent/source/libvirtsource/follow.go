package libvirtsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
)

// Position is where a Follower has read to: the file (by inode) and the
// offset just after the last complete line it handled.
type Position struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// Follower follows a log file like `tail -F`, line by line: it survives
// rotation (rename and a new file) and truncation, waits for a partial last
// line to be completed, and keeps its Position in StatePath so that after a
// restart it goes on where it stopped, finishing a file rotated meanwhile
// first. Nothing is handled twice and nothing is skipped, provided the
// rotated file is still at Path.1 (or another Path.* name).
type Follower struct {
	// Path is the log file.
	Path string
	// StatePath keeps the Position; none is kept when empty.
	StatePath string
	// FromStart reads a log this follower has no position for from its
	// start; otherwise only lines written after the first look are read.
	FromStart bool
	// Poll is the time between two looks at a file at its end; 200 ms when zero.
	Poll time.Duration
	// Handle gets each complete line, without its newline.
	Handle func(ctx context.Context, line []byte)
	// Malformed gets a line too long to be a record.
	Malformed func(err error)
	Log       logr.Logger

	pos       Position
	published atomic.Pointer[Position] // pos as last saved, for Position
}

// Run follows the file until ctx ends; it returns nil then.
func (f *Follower) Run(ctx context.Context) error {
	if f.Poll <= 0 {
		f.Poll = 200 * time.Millisecond
	}
	known := f.load()
	for ctx.Err() == nil {
		file, err := os.Open(f.Path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				f.Log.Error(err, "opening the audit log", "path", f.Path)
			}
			backoff.Sleep(ctx, f.Poll)
			continue
		}
		ino, size := fileID(file)
		switch {
		case known && f.pos.Inode == ino:
			if f.pos.Offset > size { // truncated while we were away
				f.pos.Offset = 0
			}
		case known:
			// Rotated while we were away: finish the old file first.
			f.drainRotated(ctx)
			f.pos = Position{Inode: ino}
		case f.FromStart:
			f.pos = Position{Inode: ino}
		default:
			f.pos = Position{Inode: ino, Offset: size}
		}
		known = true
		f.save()
		err = f.follow(ctx, file)
		_ = file.Close()
		if err != nil && ctx.Err() == nil {
			f.Log.Error(err, "reading the audit log", "path", f.Path)
			backoff.Sleep(ctx, f.Poll)
		}
	}
	f.save()
	return nil
}

// Position returns the position last saved.
func (f *Follower) Position() Position {
	if p := f.published.Load(); p != nil {
		return *p
	}
	return Position{}
}

// follow reads an open file from f.pos until it is rotated away or ctx
// ends. After a rotation it returns nil with f.pos at the new file's start.
func (f *Follower) follow(ctx context.Context, file *os.File) error {
	if _, err := file.Seek(f.pos.Offset, io.SeekStart); err != nil {
		return err
	}
	r := &lineReader{file: file, handle: f.Handle, malformed: f.Malformed}
	r.offset = f.pos.Offset
	for {
		n, err := r.readLines(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			f.pos.Offset = r.offset
			f.save()
			continue // more may be there already
		}
		if ctx.Err() != nil {
			return nil
		}
		// At the end: rotated, truncated, or just nothing new yet?
		st, err := os.Stat(f.Path)
		if err == nil && inodeOf(st) != f.pos.Inode {
			// Rotated: what was written to the old file before the
			// rename is still to be read, then the new file starts.
			if _, err := r.readLines(ctx); err != nil {
				return err
			}
			r.flushPartial(ctx)
			f.pos = Position{Inode: inodeOf(st)}
			f.save()
			return nil
		}
		if cur, err := file.Stat(); err == nil && cur.Size() < r.offset {
			f.Log.Info("the audit log was truncated; reading it from its start", "path", f.Path)
			if _, err := file.Seek(0, io.SeekStart); err != nil {
				return err
			}
			r.offset, r.partial, r.skipping = 0, nil, false
			f.pos.Offset = 0
			f.save()
			continue
		}
		if !backoff.Sleep(ctx, f.Poll) {
			return nil
		}
	}
}

// drainRotated reads the rest of the file f.pos names, if it can be found
// beside Path (Path.1, Path.2, ...), from f.pos.Offset.
func (f *Follower) drainRotated(ctx context.Context) {
	matches, _ := filepath.Glob(f.Path + ".*")
	for _, m := range matches {
		file, err := os.Open(m)
		if err != nil {
			continue
		}
		ino, size := fileID(file)
		if ino != f.pos.Inode || size < f.pos.Offset {
			_ = file.Close()
			continue
		}
		f.Log.Info("finishing the audit log rotated while the agent was away", "path", m, "offset", f.pos.Offset)
		if _, err := file.Seek(f.pos.Offset, io.SeekStart); err == nil {
			r := &lineReader{file: file, handle: f.Handle, malformed: f.Malformed, offset: f.pos.Offset}
			_, _ = r.readLines(ctx)
			r.flushPartial(ctx)
		}
		_ = file.Close()
		return
	}
	f.Log.Info("the audit log was rotated while the agent was away and the old file is gone; records may have been missed", "path", f.Path)
}

// load reads the saved position; it reports whether there was one.
func (f *Follower) load() bool {
	if f.StatePath == "" {
		return false
	}
	b, err := os.ReadFile(f.StatePath)
	if err != nil {
		return false
	}
	var p Position
	if err := json.Unmarshal(b, &p); err != nil || p.Inode == 0 || p.Offset < 0 {
		f.Log.Info("ignoring an unreadable audit position file", "path", f.StatePath)
		return false
	}
	f.pos = p
	return true
}

// save writes the position atomically (temporary file, then rename).
func (f *Follower) save() {
	p := f.pos
	f.published.Store(&p)
	if f.StatePath == "" || f.pos.Inode == 0 {
		return
	}
	b, _ := json.Marshal(f.pos)
	tmp := f.StatePath + ".tmp"
	_ = os.MkdirAll(filepath.Dir(f.StatePath), 0o700)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		f.Log.Error(err, "saving the audit log position", "path", f.StatePath)
		return
	}
	if err := os.Rename(tmp, f.StatePath); err != nil {
		f.Log.Error(err, "saving the audit log position", "path", f.StatePath)
	}
}

// lineReader splits a file into lines, keeping a partial last line for
// the next read.
type lineReader struct {
	file      *os.File
	handle    func(ctx context.Context, line []byte)
	malformed func(err error)
	offset    int64 // just after the last complete line handled
	partial   []byte
	skipping  bool // inside a line too long to keep
	buf       [32 << 10]byte
}

// readLines reads to the current end of the file, handling each complete
// line; it returns how many bytes it consumed.
func (r *lineReader) readLines(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.file.Read(r.buf[:])
		if n > 0 {
			total += n
			r.split(ctx, r.buf[:n])
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (r *lineReader) split(ctx context.Context, data []byte) {
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			if r.skipping {
				r.offset += int64(len(data))
				return
			}
			r.partial = append(r.partial, data...)
			if len(r.partial) > audit.MaxLineBytes {
				r.tooLong()
			}
			return
		}
		line := data[:nl]
		data = data[nl+1:]
		if r.skipping {
			r.skipping = false
			r.offset += int64(nl) + 1
			continue
		}
		full := line
		if len(r.partial) > 0 {
			full = append(r.partial, line...)
		}
		r.offset += int64(len(full)) + 1
		if len(full) > audit.MaxLineBytes {
			if r.malformed != nil {
				r.malformed(audit.ErrTooLong)
			}
		} else if len(full) > 0 {
			r.handle(ctx, full)
		}
		r.partial = r.partial[:0]
	}
}

// tooLong gives up a line that outgrew MaxLineBytes: it is reported once
// and the rest of it, up to its newline, skipped. The bytes skipped are
// counted in the offset when the newline comes.
func (r *lineReader) tooLong() {
	if r.malformed != nil {
		r.malformed(audit.ErrTooLong)
	}
	r.skipping = true
	// Keep only the length of what was skipped, not the bytes.
	r.offset += int64(len(r.partial))
	r.partial = r.partial[:0]
}

// flushPartial handles a last line with no newline in a file that will not
// grow any more (rotated away): a cut record, which the parser reports.
func (r *lineReader) flushPartial(ctx context.Context) {
	if len(r.partial) > 0 && !r.skipping {
		r.offset += int64(len(r.partial))
		r.handle(ctx, r.partial)
	}
	r.partial = r.partial[:0]
}

func fileID(file *os.File) (ino uint64, size int64) {
	st, err := file.Stat()
	if err != nil {
		return 0, 0
	}
	return inodeOf(st), st.Size()
}

func inodeOf(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}
