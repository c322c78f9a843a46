package qmpagent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
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
	waitFor(t, "the value spooled", func() bool { kept, _ := spoolFor().Load(); return kept["vm"] == 7 })
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
	waitFor(t, "the kept value written and released", func() bool {
		w2.mu.Lock()
		n := len(w2.written)
		w2.mu.Unlock()
		left, _ := spoolFor().Load()
		return n == 1 && len(left) == 0
	})
}
