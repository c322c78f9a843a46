// Command loadgen is a fake QEMU for load tests: it serves N QMP monitor
// sockets with QEMU 7.2's exact wire format (the greeting, the
// qmp_capabilities handshake, answers to the queries the agent makes after
// connecting) and then emits events with real timestamps (seconds and
// microseconds of the wall clock at emission, as QEMU does), at a total rate
// spread over the sockets with a configurable mix, plus storms: one socket
// emitting one event at a high rate for a while.
//
// Like QEMU, it emits an event only to a monitor that finished the
// capabilities negotiation; an event emitted while no client is connected is
// dropped (and counted). Each socket serves one client at a time.
//
// It is not part of the product: hack/bench drives it, and it can be used
// alone. It reads commands on stdin, one per line:
//
//	rate R                      total events/s of the normal mix over all non-storming sockets
//	storm VM RATE SECONDS       socket VM emits BLOCK_IO_ERROR at RATE/s for SECONDS
//	fault VM KIND               socket VM's guest hits a fault that pauses it (KIND: panic,
//	                            watchdog, ioerror): the fault event, then STOP; query-status
//	                            answers guest-panicked, watchdog or io-error until cleared
//	clear VM                    socket VM is reset and resumed (RESET, RESUME; running again)
//	hold                        stop writing to every client (after the write under way);
//	                            print HELD
//	release                     write again
//	unread                      print a U line for each event written to a client that
//	                            the client has not read (in its socket's receive queue),
//	                            then UNREAD N; exact while held and the clients stopped
//	stats                       print an "S {json}" line
//	quit                        close every socket and exit
//
// and writes lines on stdout:
//
//	READY N                     all sockets listen
//	C VM UNIXNANO               a client finished the capabilities negotiation
//	D VM UNIXNANO               a client went away
//	E VM EVENT SECONDS MICROS   a normal-mix event (or a fault's STOP, a clear's RESET and
//	                            RESUME) was written to the client
//	F VM EVENT SECONDS MICROS   a fault command's fault event was written to the client
//	STORMDONE VM WRITTEN        a storm ended; WRITTEN events reached the socket
//	HELD                        the writers stopped (hold)
//	U VM EVENT SECONDS MICROS   an event written but not read by its client (unread)
//	UNREAD N                    the end of unread's N U lines (-1: it failed, see stderr)
//	S {json}                    statistics (see wire.Stats)
//
// Usage: go run ./test/loadgen -dir /tmp/vmb -n 1000 [-per-folder 50 -sub NS] [-rate 200] [-mix ...]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", "", "folder for the sockets, created; socket i is DIR/i.qmp (keep it short: 107 bytes at most)")
	n := flag.Int("n", 1000, "number of fake QEMUs (sockets)")
	perFolder := flag.Int("per-folder", 0, "sockets per folder (0: all in DIR): socket i is DIR/<i/K>/SUB/i.qmp, one folder per node")
	sub := flag.String("sub", "", "with -per-folder, the folder below each group's (the default tenancy's namespace)")
	rate := flag.Float64("rate", 0, "initial total events/s of the normal mix")
	mix := flag.String("mix", DefaultMix, "normal event mix: NAME=WEIGHT,... (names: "+strings.Join(knownEvents(), ", ")+")")
	seed := flag.Uint64("seed", 1, "random seed for the choice of socket and event")
	flag.Parse()
	if *dir == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -dir and -n are required")
		os.Exit(2)
	}
	m, err := ParseMix(*mix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	out := newOutput(os.Stdout)
	g, err := NewGenerator(Layout{Dir: *dir, PerFolder: *perFolder, Sub: *sub}, *n, m, *seed, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	defer g.Close()
	g.SetRate(*rate)
	go g.Run()
	out.line(fmt.Sprintf("READY %d", *n))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	for {
		select {
		case <-sig:
			return
		case c, ok := <-cmds:
			if !ok {
				return
			}
			if quit := g.command(c); quit {
				return
			}
		}
	}
}

// command runs one control line and reports whether to quit.
func (g *Generator) command(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 {
		return false
	}
	bad := func(err error) { fmt.Fprintf(os.Stderr, "loadgen: %q: %v\n", line, err) }
	switch f[0] {
	case "rate":
		if len(f) != 2 {
			bad(fmt.Errorf("want: rate R"))
			break
		}
		r, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			bad(err)
			break
		}
		g.SetRate(r)
	case "storm":
		if len(f) != 4 {
			bad(fmt.Errorf("want: storm VM RATE SECONDS"))
			break
		}
		vm, err1 := strconv.Atoi(f[1])
		r, err2 := strconv.ParseFloat(f[2], 64)
		secs, err3 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil || err3 != nil || vm < 0 || vm >= len(g.sessions) {
			bad(fmt.Errorf("bad arguments"))
			break
		}
		go g.Storm(vm, r, time.Duration(secs*float64(time.Second)))
	case "fault", "clear":
		var vm int
		var err error
		if len(f) != map[string]int{"fault": 3, "clear": 2}[f[0]] {
			bad(fmt.Errorf("want: fault VM KIND, clear VM"))
			break
		}
		if vm, err = strconv.Atoi(f[1]); err != nil || vm < 0 || vm >= len(g.sessions) {
			bad(fmt.Errorf("bad VM %q", f[1]))
			break
		}
		if f[0] == "clear" {
			g.sessions[vm].clear()
		} else if err := g.sessions[vm].fault(f[2]); err != nil {
			bad(err)
		}
	case "hold":
		g.hold()
		g.out.line("HELD")
	case "release":
		g.release()
	case "unread":
		ls, err := g.unread()
		if err != nil {
			bad(err)
			g.out.line("UNREAD -1")
			break
		}
		g.out.lines(ls)
		g.out.line(fmt.Sprintf("UNREAD %d", len(ls)))
	case "stats":
		b, _ := json.Marshal(g.Stats())
		g.out.line("S " + string(b))
	case "quit":
		return true
	default:
		bad(fmt.Errorf("unknown command"))
	}
	return false
}

// output serialises the lines written to stdout.
type output struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newOutput(f *os.File) *output { return &output{w: bufio.NewWriterSize(f, 1<<16)} }

func (o *output) line(s string) {
	o.mu.Lock()
	o.w.WriteString(s)
	o.w.WriteByte('\n')
	o.w.Flush()
	o.mu.Unlock()
}

func (o *output) lines(ls []string) {
	if len(ls) == 0 {
		return
	}
	o.mu.Lock()
	for _, s := range ls {
		o.w.WriteString(s)
		o.w.WriteByte('\n')
	}
	o.w.Flush()
	o.mu.Unlock()
}
