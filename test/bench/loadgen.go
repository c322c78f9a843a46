package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmevents/vmevents/test/loadgen/wire"
)

// loadgen is the fake-QEMU process (test/loadgen) and what it reports.
type loadgen struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	tr    *tracker

	mu         sync.Mutex
	handshakes int64
	lastHand   time.Time
	connected  map[int]bool
	stats      chan wire.Stats
	stormDone  chan [2]int64
	ready      chan int
	held       chan struct{}
	// unread collects U lines until UNREAD hands them over.
	unread     []eventLine
	unreadDone chan unreadResult
}

// unreadResult is what an UNREAD line ends: the U lines before it, or a
// failure (UNREAD -1).
type unreadResult struct {
	events []eventLine
	failed bool
}

// eventLine is an event as the load generator reports it (its E, F and U
// lines): the VM, the event's name and its QEMU timestamp.
type eventLine struct {
	vm   int
	name string
	ts   time.Time
}

// parseEventLine reads "VM EVENT SECONDS MICROS", an event line's fields.
func parseEventLine(fields string) (eventLine, bool) {
	f := strings.Fields(fields)
	if len(f) != 4 {
		return eventLine{}, false
	}
	vm, _ := strconv.Atoi(f[0])
	sec, _ := strconv.ParseInt(f[2], 10, 64)
	usec, _ := strconv.ParseInt(f[3], 10, 64)
	return eventLine{vm: vm, name: f[1], ts: time.Unix(sec, usec*1000)}, true
}

// startLoadgen starts the load generator with n sockets under dir (args:
// more of its flags) and waits until they listen.
func startLoadgen(bin, dir string, n int, tr *tracker, logPath string, args ...string) (*loadgen, error) {
	cmd := exec.Command(bin, append([]string{"-dir", dir, "-n", strconv.Itoa(n)}, args...)...)
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l := &loadgen{cmd: cmd, stdin: stdin, tr: tr, connected: map[int]bool{},
		stats: make(chan wire.Stats, 1), stormDone: make(chan [2]int64, 1), ready: make(chan int, 1),
		held: make(chan struct{}, 1), unreadDone: make(chan unreadResult, 1)}
	go l.read(stdout)
	select {
	case <-l.ready:
		return l, nil
	case <-time.After(60 * time.Second):
		l.stop()
		return nil, fmt.Errorf("loadgen not ready (log: %s)", logPath)
	}
}

func (l *loadgen) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		now := time.Now()
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "E", "F":
			e, ok := parseEventLine(rest)
			if !ok {
				continue
			}
			l.tr.sent(e.vm, e.name, e.ts, now)
			if kind == "F" {
				l.tr.faulted(e.vm, e.name, e.ts, now)
			}
		case "C", "D":
			f := strings.Fields(rest)
			if len(f) != 2 {
				continue
			}
			vm, _ := strconv.Atoi(f[0])
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			l.mu.Lock()
			if kind == "C" {
				l.handshakes++
				l.lastHand = time.Unix(0, ns)
				l.connected[vm] = true
			} else {
				delete(l.connected, vm)
			}
			l.mu.Unlock()
		case "S":
			var st wire.Stats
			if json.Unmarshal([]byte(rest), &st) == nil {
				select {
				case l.stats <- st:
				default:
				}
			}
		case "STORMDONE":
			f := strings.Fields(rest)
			if len(f) == 2 {
				vm, _ := strconv.ParseInt(f[0], 10, 64)
				n, _ := strconv.ParseInt(f[1], 10, 64)
				l.stormDone <- [2]int64{vm, n}
			}
		case "HELD":
			l.held <- struct{}{}
		case "U":
			if e, ok := parseEventLine(rest); ok {
				l.unread = append(l.unread, e)
			}
		case "UNREAD":
			l.unreadDone <- unreadResult{events: l.unread, failed: strings.HasPrefix(rest, "-")}
			l.unread = nil
		case "READY":
			n, _ := strconv.Atoi(rest)
			l.ready <- n
		}
	}
}

func (l *loadgen) send(format string, args ...any) {
	fmt.Fprintf(l.stdin, format+"\n", args...)
}

// Stats asks the load generator for its counters.
func (l *loadgen) Stats() wire.Stats {
	select {
	case <-l.stats:
	default:
	}
	l.send("stats")
	select {
	case st := <-l.stats:
		return st
	case <-time.After(30 * time.Second):
		return wire.Stats{}
	}
}

// hold stops the load generator's writes to its clients (after the writes
// under way) and returns once they stopped; release lets them go on.
func (l *loadgen) hold() error {
	l.send("hold")
	select {
	case <-l.held:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the load generator's writers did not stop")
	}
}

func (l *loadgen) release() { l.send("release") }

// unreadEvents returns the events written to the clients that they have
// not read: exact while the writes are held and the clients stopped.
func (l *loadgen) unreadEvents() ([]eventLine, error) {
	l.send("unread")
	select {
	case u := <-l.unreadDone:
		if u.failed {
			return nil, fmt.Errorf("the load generator could not read the sockets' receive queues (see its log)")
		}
		return u.events, nil
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the load generator did not say which events are unread")
	}
}

// handshakeState is the number of handshakes so far, the time of the last
// one, and how many clients are connected now.
func (l *loadgen) handshakeState() (int64, time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handshakes, l.lastHand, len(l.connected)
}

func (l *loadgen) stop() {
	l.send("quit")
	done := make(chan struct{})
	go func() { _ = l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = l.cmd.Process.Kill()
		<-done
	}
}
