package qmp_test

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// allGoroutines returns the stack of every goroutine.
func allGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Split(string(buf), "\n\n")
}

// clientGoroutines returns the stacks of goroutines the client started
// (not the tests').
func clientGoroutines() []string {
	var found []string
	for _, g := range allGoroutines() {
		if strings.Contains(g, "qmpagent/qmp.(*Conn).readLoop") ||
			strings.Contains(g, "qmpagent/qmp.(*eventQueue).run") ||
			strings.Contains(g, "qmpagent/qmp.(*Conn).Events.func") {
			found = append(found, g)
		}
	}
	return found
}

func waitNoClientGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(testTimeout)
	for {
		if left = clientGoroutines(); len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// eventually polls cond until it holds or the deadline passes. Polling
// with a deadline is synchronisation, not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoGoroutineLeak opens and closes thousands of connections, in the
// ways a connection can end, and checks that no goroutine of the client
// survives.
func TestNoGoroutineLeak(t *testing.T) {
	cycles := 3000
	if testing.Short() {
		cycles = 300
	}
	s := qmptest.NewServer(t)
	s.Serve(func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		if err := p.Event("STOP", nil); err != nil {
			return err
		}
		for {
			c, err := p.ReadCommand()
			if err != nil {
				return err
			}
			if c.Execute == "quit" { // reply, then hang up like QEMU
				return p.Reply(c, nil)
			}
			// Other commands are never answered.
		}
	})
	ctx := testContext(t)
	before := runtime.NumGoroutine()
	for i := 0; i < cycles; i++ {
		c, err := qmp.Dial(ctx, s.Path, qmp.Options{})
		if err != nil {
			t.Fatalf("cycle %d: Dial: %v", i, err)
		}
		var inFlight chan error
		switch i % 6 {
		case 0: // close with an event still queued
		case 1: // close after reading it
			<-c.Events()
		case 4: // close after reading it without the channel
			if _, err := c.NextEvent(ctx); err != nil {
				t.Fatalf("cycle %d: NextEvent: %v", i, err)
			}
		case 5: // close while NextEvent waits for a second event
			if _, err := c.NextEvent(ctx); err != nil {
				t.Fatalf("cycle %d: NextEvent: %v", i, err)
			}
			inFlight = make(chan error, 1)
			go func() {
				_, err := c.NextEvent(ctx)
				inFlight <- err
			}()
		case 2: // close while a command waits for a reply that never comes
			inFlight = make(chan error, 1)
			go func() { inFlight <- c.Execute(ctx, "query-status", nil, nil) }()
		case 3: // the peer hangs up first
			if err := c.Execute(ctx, "quit", nil, nil); err != nil {
				t.Fatalf("cycle %d: quit: %v", i, err)
			}
			<-c.Done()
			if !errors.Is(c.Err(), io.EOF) {
				t.Fatalf("cycle %d: Err() = %v, want io.EOF", i, c.Err())
			}
		}
		if err := c.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", i, err)
		}
		if inFlight != nil {
			if err := <-inFlight; !errors.Is(err, qmp.ErrClosed) {
				t.Fatalf("cycle %d: call in flight at Close returned %v", i, err)
			}
		}
		if i%500 == 0 {
			// Close has waited for the goroutines' last statements; they
			// may still be a few instructions from exiting.
			waitNoClientGoroutines(t)
		}
	}
	waitNoClientGoroutines(t)
	// The server's per-connection goroutines wind down asynchronously.
	eventually(t, "goroutine count to return to its starting level", func() bool {
		return runtime.NumGoroutine() <= before+2
	})
}
