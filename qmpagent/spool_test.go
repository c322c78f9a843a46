package qmpagent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vmevents/vmevents/test/framework/poll"

	"golang.org/x/sys/unix"
)

func TestSpoolKeepsReplacesAndForgets(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSpool[string, int](dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Save("a", 1))
	must(s.Save("a", 2)) // replaces
	must(s.Save("b", 3))
	if err := s.Save("c", 4); !errors.Is(err, ErrSpoolFull) {
		t.Errorf("a third key in a spool of 2: %v, want ErrSpoolFull", err)
	}
	must(s.Save("b", 5)) // replacing is always possible
	// A torn write and a foreign file are dropped, not fatal.
	must(os.WriteFile(filepath.Join(dir, "x.json"), []byte(`{"key":`), 0o600))
	must(os.WriteFile(filepath.Join(dir, "y.json.tmp"), []byte(`{}`), 0o600))

	again, _ := NewSpool[string, int](dir, 2) // as after a restart
	kept, errs := again.Load()
	if len(kept) != 2 || kept["a"] != 2 || kept["b"] != 5 || len(errs) != 1 {
		t.Errorf("Load() = %v, %v; want a=2 b=5 and one error", kept, errs)
	}
	must(again.Delete("a"))
	must(again.Delete("never"))
	if kept, _ := again.Load(); len(kept) != 1 {
		t.Errorf("after Delete: %v", kept)
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

func TestCoalescerSpoolsWhatItCouldNotWriteAndTakesItUpAfterARestart(t *testing.T) {
	dir := t.TempDir()
	spoolFor := func() *Spool[string, int] {
		s, err := NewSpool[string, int](dir, 10)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// First run: the apiserver is down; the value ends in the spool, and
	// the run is killed (no flush).
	w := &flakyWriter{}
	c := NewCoalescer("test", 0, w.write)
	c.UseSpool(spoolFor(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	c.Put("vm", 7)
	poll.Until(t, "the value spooled", func() bool { kept, _ := spoolFor().Load(); return kept["vm"] == 7 })
	cancel()
	<-done

	// Second run: the apiserver is back; what was kept is written, then
	// dropped from the spool.
	w2 := &flakyWriter{ok: true}
	c2 := NewCoalescer("test", 0, w2.write)
	kept, _ := c2.UseSpool(spoolFor(), nil)
	if kept["vm"] != 7 {
		t.Fatalf("kept %v", kept)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); c2.Run(ctx2, 1) }()
	defer func() { cancel2(); <-done2 }()
	c2.Put("vm", kept["vm"])
	poll.Until(t, "the kept value written and released", func() bool {
		w2.mu.Lock()
		n := len(w2.written)
		w2.mu.Unlock()
		left, _ := spoolFor().Load()
		return n == 1 && len(left) == 0
	})
}

// TestSpoolRefusesWhatWasPlanted plants what a local attacker (or a stray
// process) could leave in the spool folder of an agent that runs as root:
// nothing there may make the agent write outside the folder, hang it, or
// be loaded as a value.
func TestSpoolRefusesWhatWasPlanted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir, entry, victim string)
	}{
		{"symlink at the temporary name", func(t *testing.T, dir, entry, victim string) {
			mustDo(t, os.Symlink(victim, entry+".tmp"))
		}},
		{"symlink at the entry's name", func(t *testing.T, dir, entry, victim string) {
			mustDo(t, os.Symlink(victim, entry))
		}},
		{"FIFO at the entry's name", func(t *testing.T, dir, entry, victim string) {
			mustDo(t, unix.Mkfifo(entry, 0o600))
		}},
		{"FIFO at the temporary name", func(t *testing.T, dir, entry, victim string) {
			mustDo(t, unix.Mkfifo(entry+".tmp", 0o600))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "spool")
			victim := filepath.Join(base, "victim")
			const precious = `{"key":"planted","value":7}`
			mustDo(t, os.WriteFile(victim, []byte(precious), 0o600))
			s, err := NewSpool[string, int](dir, 10)
			mustDo(t, err)
			entry, err := s.path("a")
			mustDo(t, err)
			tc.plant(t, dir, entry, victim)

			// Load neither hangs on a FIFO nor reads through a symlink.
			kept, _ := s.Load()
			if len(kept) != 0 {
				t.Errorf("Load() = %v; want nothing loaded", kept)
			}
			tc.plant(t, dir, entry, victim) // again, after Load cleared it
			mustDo(t, s.Save("a", 1))
			if got, _ := os.ReadFile(victim); string(got) != precious {
				t.Errorf("the file outside the spool now holds %q", got)
			}
			kept, errs := s.Load()
			if kept["a"] != 1 || len(errs) != 0 {
				t.Errorf("after Save: Load() = %v, %v; want a=1", kept, errs)
			}
		})
	}
}

func TestSpoolFolder(t *testing.T) {
	t.Run("created with mode 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "spool")
		_, err := NewSpool[string, int](dir, 1)
		mustDo(t, err)
		assertMode(t, dir, 0o700)
	})
	t.Run("an open mode is narrowed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "spool")
		mustDo(t, os.Mkdir(dir, 0o777))
		mustDo(t, os.Chmod(dir, 0o777)) // past the umask
		_, err := NewSpool[string, int](dir, 1)
		mustDo(t, err)
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
