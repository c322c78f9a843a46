package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/vmevents/vmevents/test/framework/poll"
)

// The events a client has not read from its socket are named by unread,
// from the kernel's receive queue; once it reads them, none are.
func TestUnreadNamesWhatTheClientLeftInItsSocket(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	l := Layout{Dir: t.TempDir()}
	g, err := NewGenerator(l, 1, Mix{}, 1, newOutput(devnull))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	c, err := net.Dial("unix", l.Path(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // the greeting
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, `{"execute":"qmp_capabilities"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != nil { // its answer
		t.Fatal(err)
	}
	s := g.sessions[0]
	poll.Until(t, "the session in command mode", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.commandMode
	})

	for _, name := range []string{"RTC_CHANGE", "RESET", "WATCHDOG"} {
		s.emit(name, nil, true)
	}
	s.flushed()
	g.hold()
	got, err := g.unread()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !strings.HasPrefix(got[0], "U 0 RTC_CHANGE ") || !strings.HasPrefix(got[2], "U 0 WATCHDOG ") {
		t.Fatalf("unread before the client read: %q, want the 3 events in order", got)
	}

	g.release()
	for range 3 {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := g.unread(); err != nil || len(got) != 0 {
		t.Fatalf("unread after the client read everything: %q, %v; want none", got, err)
	}
}
