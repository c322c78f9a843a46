package qmpagent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmevents/vmevents/qmpagent/journal"
	"github.com/vmevents/vmevents/test/framework/poll"
)

// openSpool opens the spool in dir, closed (fsync) when the test ends
// unless the test closed or abandoned it first.
func openSpool(t *testing.T, dir string, maxEntries int) *Spool[string, int] {
	t.Helper()
	s, err := NewSpool[string, int](dir, maxEntries)
	mustDo(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// spooled reads what the journal in dir says now, as the next run would
// find it.
func spooled(t *testing.T, dir string) map[string]int {
	t.Helper()
	live, err := journal.Read(dir)
	mustDo(t, err)
	out := map[string]int{}
	for k, v := range live {
		var key string
		var n int
		mustDo(t, errors.Join(json.Unmarshal([]byte(k), &key), json.Unmarshal(v, &n)))
		out[key] = n
	}
	return out
}

func TestSpoolKeepsReplacesAndForgets(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, 2)
	mustDo(t, s.Save("a", 1))
	mustDo(t, s.Save("a", 2)) // replaces
	mustDo(t, s.Save("b", 3))
	if err := s.Save("c", 4); !errors.Is(err, ErrSpoolFull) {
		t.Errorf("a third key in a spool of 2: %v, want ErrSpoolFull", err)
	}
	mustDo(t, s.Save("b", 5)) // replacing is always possible
	mustDo(t, s.DeleteIf("b", 3))
	mustDo(t, s.j.Abandon()) // killed: no fsync, no close

	again := openSpool(t, dir, 2) // as after a restart
	kept, errs := again.Load()
	if len(kept) != 2 || kept["a"] != 2 || kept["b"] != 5 || len(errs) != 0 {
		t.Errorf("Load() = %v, %v; want a=2 b=5 (a DeleteIf of an older value keeps the newer)", kept, errs)
	}
	mustDo(t, again.Delete("a"))
	mustDo(t, again.Delete("never"))
	mustDo(t, again.DeleteIf("b", 5))
	if left := spooled(t, dir); len(left) != 0 {
		t.Errorf("after Delete and DeleteIf: %v", left)
	}
}

// TestSpoolTakesInTheOldFiles: an agent upgraded during an outage finds
// the per-key files of the spool before the journal; they are taken in
// (unless the journal has the key: it is newer) and removed, and what is
// not a file of theirs is reported, not followed nor waited on.
func TestSpoolTakesInTheOldFiles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "spool")
	mustDo(t, os.Mkdir(dir, 0o700))
	victim := filepath.Join(base, "victim")
	mustDo(t, os.WriteFile(victim, []byte(`{"key":"planted","value":7}`), 0o600))
	// The journal already says b is 3: newer than the file.
	s := openSpool(t, dir, 10)
	mustDo(t, s.Save("b", 3))
	mustDo(t, s.Close())
	old := func(name, body string) { mustDo(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600)) }
	old("0a.json", `{"key":"a","value":1}`)
	old("0b.json", `{"key":"b","value":2}`)
	old("0c.json", `{"key":`) // torn
	old("0d.json.123.tmp", `{"key":"d","value":4}`)
	mustDo(t, os.Symlink(victim, filepath.Join(dir, "0e.json")))
	mustDo(t, unix.Mkfifo(filepath.Join(dir, "0f.json"), 0o600))

	s = openSpool(t, dir, 10)
	kept, errs := s.Load()
	if len(kept) != 2 || kept["a"] != 1 || kept["b"] != 3 || len(errs) != 3 {
		t.Errorf("Load() = %v, %v; want a=1 b=3 and three errors (torn, symlink, FIFO)", kept, errs)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != journal.FileName {
			t.Errorf("%s left in the spool folder", e.Name())
		}
	}
	if got := spooled(t, dir); len(got) != 2 || got["a"] != 1 {
		t.Errorf("the journal says %v", got)
	}
}

// flakyWriter fails until told to succeed.
type flakyWriter struct {
	mu      sync.Mutex
	ok      bool
	written []int
}

func (w *flakyWriter) write(_ context.Context, _ string, v int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ok {
		return errors.New("apiserver down")
	}
	w.written = append(w.written, v)
	return nil
}

func (w *flakyWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.written)
}

// runCoalescer runs c until the test ends.
func runCoalescer[V any](t *testing.T, c *Coalescer[string, V]) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestCoalescerSavesAheadTrimsWhatWasWrittenAndTakesUpTheRestAfterACrash(t *testing.T) {
	dir := t.TempDir()

	// First run: the apiserver is down; the value was saved before it was
	// queued, and the run is killed (no flush, no close).
	w := &flakyWriter{}
	c := NewCoalescer("test", 0, w.write)
	s := openSpool(t, dir, 10)
	c.UseSpool(s, nil)
	runCoalescer(t, c)
	c.SaveAhead("vm", 7)
	c.Put("vm", 7)
	poll.Until(t, "a write failed", func() bool { return c.Stats().Failures > 0 })
	mustDo(t, s.j.Abandon())

	// Second run: the apiserver is back; what was kept is written, then
	// trimmed.
	w2 := &flakyWriter{ok: true}
	c2 := NewCoalescer("test", 0, w2.write)
	kept, _ := c2.UseSpool(openSpool(t, dir, 10), nil)
	if kept["vm"] != 7 {
		t.Fatalf("kept %v", kept)
	}
	runCoalescer(t, c2)
	c2.Put("vm", kept["vm"])
	poll.Until(t, "the kept value written and trimmed", func() bool {
		return w2.count() == 1 && len(spooled(t, dir)) == 0
	})
}

// TestCoalescerTrimKeepsANewerSave: a value saved while an older one is
// being written stays in the spool when the older write succeeds, whether
// or not it was Put yet: the trim is of the value written only.
func TestCoalescerTrimKeepsANewerSave(t *testing.T) {
	dir := t.TempDir()
	inWrite, goOn := make(chan int), make(chan struct{})
	c := NewCoalescer("test", 0, func(_ context.Context, _ string, v int) error {
		inWrite <- v
		<-goOn
		return nil
	})
	c.UseSpool(openSpool(t, dir, 10), nil)
	runCoalescer(t, c)
	c.SaveAhead("vm", 1)
	c.Put("vm", 1)
	if v := <-inWrite; v != 1 {
		t.Fatalf("writing %d", v)
	}
	c.SaveAhead("vm", 2) // not Put yet: a crash now must find 2
	goOn <- struct{}{}
	poll.Until(t, "the write of 1 done", func() bool { return c.Stats().Writes == 1 })
	if got := spooled(t, dir); got["vm"] != 2 {
		t.Fatalf("the spool says %v after the write of 1; want vm=2", got)
	}
	c.Put("vm", 2)
	if v := <-inWrite; v != 2 {
		t.Fatalf("writing %d", v)
	}
	goOn <- struct{}{}
	poll.Until(t, "2 written and trimmed", func() bool { return len(spooled(t, dir)) == 0 })
}

func TestSpoolFolder(t *testing.T) {
	t.Run("created with mode 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "spool")
		openSpool(t, dir, 1)
		assertMode(t, dir, 0o700)
	})
	t.Run("an open mode is narrowed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "spool")
		mustDo(t, os.Mkdir(dir, 0o777))
		mustDo(t, os.Chmod(dir, 0o777)) // past the umask
		openSpool(t, dir, 1)
		assertMode(t, dir, 0o700)
	})
	t.Run("a symlink is refused", func(t *testing.T) {
		base := t.TempDir()
		elsewhere := filepath.Join(base, "elsewhere")
		mustDo(t, os.Mkdir(elsewhere, 0o755))
		dir := filepath.Join(base, "spool")
		mustDo(t, os.Symlink(elsewhere, dir))
		if _, err := NewSpool[string, int](dir, 1); err == nil {
			t.Fatal("a spool folder that is a symlink was accepted")
		}
		assertMode(t, elsewhere, 0o755)
	})
	t.Run("another user's folder is refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the folder away")
		}
		dir := filepath.Join(t.TempDir(), "spool")
		mustDo(t, os.Mkdir(dir, 0o700))
		mustDo(t, os.Chown(dir, 65534, 65534))
		if _, err := NewSpool[string, int](dir, 1); err == nil {
			t.Fatal("a spool folder of another user was accepted")
		}
	})
	t.Run("one agent at a time", func(t *testing.T) {
		dir := t.TempDir()
		openSpool(t, dir, 1)
		if _, err := NewSpool[string, int](dir, 1); err == nil {
			t.Fatal("a second spool on an open folder was accepted")
		}
	})
}

func assertMode(t *testing.T, dir string, want os.FileMode) {
	t.Helper()
	info, err := os.Lstat(dir)
	mustDo(t, err)
	if info.Mode().Perm() != want || !info.IsDir() {
		t.Errorf("%s: mode %v, want a folder of mode %v", dir, info.Mode(), want)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
