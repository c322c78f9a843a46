package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func open(t *testing.T, dir string, opts Options) (*Journal, []error) {
	t.Helper()
	j, errs, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, errs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func liveString(m map[string][]byte) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// sorted for a stable message
	for i := range keys {
		for k := i + 1; k < len(keys); k++ {
			if keys[k] < keys[i] {
				keys[i], keys[k] = keys[k], keys[i]
			}
		}
	}
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s ", k, m[k])
	}
	return b.String()
}

// TestReplay: what a run put and deleted, and only that, comes back after
// the journal is abandoned (the process killed: no fsync, no close).
func TestReplay(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  func(j *Journal) error
		want string
	}{
		{"newest value per key", func(j *Journal) error {
			return errors.Join(j.Put("a", []byte("1")), j.Put("a", []byte("2")), j.Put("b", []byte("3")))
		}, "a=2 b=3 "},
		{"a deleted key is gone", func(j *Journal) error {
			return errors.Join(j.Put("a", []byte("1")), j.Put("b", []byte("2")), j.Delete("a"))
		}, "b=2 "},
		{"a deleted key put again", func(j *Journal) error {
			return errors.Join(j.Put("a", []byte("1")), j.Delete("a"), j.Put("a", []byte("3")))
		}, "a=3 "},
		{"DeleteIf of the newest value deletes", func(j *Journal) error {
			return errors.Join(j.Put("a", []byte("1")), j.DeleteIf("a", []byte("1")))
		}, ""},
		{"DeleteIf of an older value keeps the newer one", func(j *Journal) error {
			return errors.Join(j.Put("a", []byte("1")), j.Put("a", []byte("2")), j.DeleteIf("a", []byte("1")))
		}, "a=2 "},
		{"deleting what is not there", func(j *Journal) error {
			return errors.Join(j.Delete("never"), j.DeleteIf("never", []byte("x")))
		}, ""},
		{"empty key and empty value", func(j *Journal) error {
			return j.Put("", []byte{})
		}, "= "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, _, err := Open(dir, Options{})
			must(t, err)
			must(t, tc.ops(j))
			if got := liveString(j.Live()); got != tc.want {
				t.Errorf("Live() = %q, want %q", got, tc.want)
			}
			must(t, j.Abandon())
			if err := j.Put("late", []byte("x")); !errors.Is(err, ErrClosed) {
				t.Errorf("Put after Abandon: %v, want ErrClosed", err)
			}
			read, err := Read(dir)
			must(t, err)
			again, errs := open(t, dir, Options{})
			if len(errs) != 0 {
				t.Errorf("errors on open: %v", errs)
			}
			if got := liveString(again.Live()); got != tc.want {
				t.Errorf("after reopening: %q, want %q", got, tc.want)
			}
			if got := liveString(read); got != tc.want {
				t.Errorf("Read() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDamage: a torn tail (an append cut short by the kill) is cut off
// quietly; a damaged record is reported and what follows it dropped;
// neither stops the journal from opening and taking appends.
func TestDamage(t *testing.T) {
	whole := func() []byte {
		var b []byte
		b = appendRecord(b, opPut, "a", []byte("1"))
		b = appendRecord(b, opPut, "b", []byte("2"))
		return b
	}
	first := len(appendRecord(nil, opPut, "a", []byte("1")))
	for _, tc := range []struct {
		name    string
		data    func() []byte
		want    string
		reports bool
	}{
		{"whole", whole, "a=1 b=2 ", false},
		{"torn in the header", func() []byte { return whole()[:first+3] }, "a=1 ", false},
		{"torn in the payload", func() []byte { b := whole(); return b[:len(b)-1] }, "a=1 ", false},
		{"a flipped bit", func() []byte { b := whole(); b[first+headerSize+2] ^= 1; return b }, "a=1 ", true},
		{"an absurd length", func() []byte { b := whole(); b[first+3] = 0xff; return b }, "a=1 ", true},
		{"a zero length", func() []byte { b := whole(); copy(b[first:], make([]byte, 4)); return b }, "a=1 ", true},
		{"garbage", func() []byte { return []byte("not a journal at all") }, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.Chmod(dir, 0o700))
			must(t, os.WriteFile(filepath.Join(dir, FileName), tc.data(), 0o600))
			j, errs := open(t, dir, Options{})
			if got := liveString(j.Live()); got != tc.want {
				t.Errorf("Live() = %q, want %q", got, tc.want)
			}
			var corrupt *CorruptError
			if reported := len(errs) == 1 && errors.As(errs[0], &corrupt); reported != tc.reports {
				t.Errorf("errors %v; want a CorruptError reported: %v", errs, tc.reports)
			}
			// Appends after the cut are read back.
			must(t, j.Put("c", []byte("3")))
			must(t, j.Abandon())
			again, errs := open(t, dir, Options{})
			if got, want := liveString(again.Live()), tc.want+"c=3 "; got != want || len(errs) != 0 {
				t.Errorf("after an append and reopening: %q %v, want %q and no error", got, errs, want)
			}
		})
	}
}

// TestCompaction: a file grown past CompactAt with mostly dead records is
// rewritten to its live values, and appends go on into the new file.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	var syncs int
	var mu sync.Mutex
	j, _ := open(t, dir, Options{CompactAt: 4096, OnSync: func() { mu.Lock(); syncs++; mu.Unlock() }})
	value := bytes.Repeat([]byte("v"), 100)
	for i := range 200 {
		must(t, j.Put(fmt.Sprintf("k%d", i%3), append(value, byte('0'+i%10))))
	}
	must(t, j.Put("gone", value))
	must(t, j.Delete("gone"))
	info, err := os.Stat(filepath.Join(dir, FileName))
	must(t, err)
	if info.Size() >= 4096+200 {
		t.Errorf("the journal is %d bytes after 200 puts of 3 keys; compaction at 4096 should have kept it smaller", info.Size())
	}
	mu.Lock()
	if syncs == 0 {
		t.Error("compaction did not fsync")
	}
	mu.Unlock()
	want := liveString(j.Live())
	must(t, j.Abandon())
	again, errs := open(t, dir, Options{})
	if got := liveString(again.Live()); got != want || len(errs) != 0 || again.Len() != 3 {
		t.Errorf("after compactions: %q %v, want %q", got, errs, want)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+".new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a compaction's temporary file was left: %v", err)
	}
}

// TestOpenCompactsDeadRecords: what an earlier run wrote and deleted is not
// carried on.
func TestOpenCompactsDeadRecords(t *testing.T) {
	dir := t.TempDir()
	j, _, err := Open(dir, Options{})
	must(t, err)
	for i := range 50 {
		must(t, j.Put("a", []byte(fmt.Sprint(i))))
	}
	must(t, j.Abandon())
	again, _ := open(t, dir, Options{})
	info, err := os.Stat(filepath.Join(dir, FileName))
	must(t, err)
	if want := int64(len(appendRecord(nil, opPut, "a", []byte("49")))); info.Size() != want {
		t.Errorf("the journal is %d bytes after reopening; want %d (one record)", info.Size(), want)
	}
	if got := liveString(again.Live()); got != "a=49 " {
		t.Errorf("Live() = %q", got)
	}
}

func TestBounds(t *testing.T) {
	j, _ := open(t, t.TempDir(), Options{MaxEntries: 2, MaxBytes: 10})
	must(t, j.Put("a", []byte("1")))
	must(t, j.Put("b", []byte("2")))
	if err := j.Put("c", []byte("3")); !errors.Is(err, ErrFull) {
		t.Errorf("a third key: %v, want ErrFull", err)
	}
	must(t, j.Put("b", []byte("22"))) // replacing is possible
	if err := j.Put("b", bytes.Repeat([]byte("x"), 11)); !errors.Is(err, ErrFull) {
		t.Errorf("11 bytes in a journal of 10: %v, want ErrFull", err)
	}
	if got := liveString(j.Live()); got != "a=1 b=22 " {
		t.Errorf("Live() = %q; a refused put changed it", got)
	}
}

// TestGroupCommit: concurrent appenders all get their records into the
// file, in fewer writes than records when they overlap, and none is lost.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	writes, records := 0, 0
	j, _, err := Open(dir, Options{OnAppend: func(r, _ int) { mu.Lock(); writes++; records += r; mu.Unlock() }})
	must(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if err := j.Put(fmt.Sprintf("g%d", g), []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	must(t, j.Abandon())
	if records != 8*500 {
		t.Errorf("%d records written, want %d", records, 8*500)
	}
	t.Logf("%d records in %d writes", records, writes)
	again, _ := open(t, dir, Options{})
	for g := range 8 {
		if v := string(again.Live()[fmt.Sprintf("g%d", g)]); v != "499" {
			t.Errorf("g%d = %q, want its last value 499", g, v)
		}
	}
}

func TestOneJournalPerFolder(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	if _, _, err := Open(dir, Options{}); err == nil {
		t.Error("a second Open of an open journal succeeded")
	}
}

func TestSync(t *testing.T) {
	var mu sync.Mutex
	syncs := 0
	j, _ := open(t, t.TempDir(), Options{SyncEvery: -1, OnSync: func() { mu.Lock(); syncs++; mu.Unlock() }})
	must(t, j.Sync())
	must(t, j.Put("a", []byte("1")))
	must(t, j.Sync())
	must(t, j.Sync()) // nothing new: no fsync
	mu.Lock()
	defer mu.Unlock()
	if syncs != 1 {
		t.Errorf("%d fsyncs, want 1 (nothing to sync before the put, nothing new after)", syncs)
	}
}

func TestFolder(t *testing.T) {
	t.Run("a symlink is refused", func(t *testing.T) {
		base := t.TempDir()
		must(t, os.Symlink(t.TempDir(), filepath.Join(base, "j")))
		if _, _, err := Open(filepath.Join(base, "j"), Options{}); err == nil {
			t.Error("a journal folder that is a symlink was accepted")
		}
	})
	t.Run("a symlink at the file's name is set aside, not followed", func(t *testing.T) {
		dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
		must(t, os.WriteFile(victim, []byte("precious"), 0o600))
		must(t, os.Symlink(victim, filepath.Join(dir, FileName)))
		j, errs := open(t, dir, Options{})
		must(t, j.Put("a", []byte("1")))
		if got, _ := os.ReadFile(victim); string(got) != "precious" || len(errs) != 1 {
			t.Errorf("victim %q, errors %v", got, errs)
		}
	})
	t.Run("a symlink at the compaction's name is not followed", func(t *testing.T) {
		dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
		must(t, os.WriteFile(victim, []byte("precious"), 0o600))
		must(t, os.Symlink(victim, filepath.Join(dir, FileName+".new")))
		j, _ := open(t, dir, Options{CompactAt: 64})
		for i := range 20 {
			must(t, j.Put("a", []byte(fmt.Sprint(i))))
		}
		if got, _ := os.ReadFile(victim); string(got) != "precious" {
			t.Errorf("victim %q", got)
		}
	})
}
