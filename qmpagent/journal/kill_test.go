package journal

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// childEnv makes the test binary a child process appending to a journal.
const childEnv = "JOURNAL_TEST_CHILD_DIR"

// TestMain runs the child when asked to: appenders, each on a key of its
// own, put 1, 2, 3... and print "key n" once each Put returned, until the
// parent kills the process.
func TestMain(m *testing.M) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		os.Exit(m.Run())
	}
	j, _, err := Open(dir, Options{CompactAt: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for g := range 4 {
		go func() {
			key := fmt.Sprintf("g%d", g)
			for i := 1; ; i++ {
				if err := j.Put(key, []byte(strconv.Itoa(i))); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", key, i)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestSIGKILL kills a real process appending to a journal (compacting as
// it goes) mid-stream: every Put that had returned is found on reopening,
// and nothing newer than what was being put.
func TestSIGKILL(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+dir)
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			must(t, err)
			must(t, cmd.Start())
			acked := map[string]int{}
			lines := bufio.NewScanner(stdout)
			for n := 0; n < 5000*(round+1) && lines.Scan(); n++ {
				key, v, _ := strings.Cut(lines.Text(), " ")
				acked[key], _ = strconv.Atoi(v)
			}
			must(t, cmd.Process.Signal(syscall.SIGKILL))
			for lines.Scan() { // what was acknowledged before the kill landed
				key, v, _ := strings.Cut(lines.Text(), " ")
				acked[key], _ = strconv.Atoi(v)
			}
			_ = cmd.Wait()
			if len(acked) == 0 {
				t.Fatal("the child acknowledged nothing")
			}
			j, errs := open(t, dir, Options{})
			if len(errs) != 0 {
				t.Errorf("errors on open after the kill: %v", errs)
			}
			live := j.Live()
			for key, n := range acked {
				got, _ := strconv.Atoi(string(live[key]))
				if got < n || got > n+1 {
					t.Errorf("%s: the journal says %d; the child had acknowledged %d (one more may have been written, not acknowledged)", key, got, n)
				}
			}
		})
	}
}
