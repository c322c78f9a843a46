package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
)

// The benchmark's QMP server runs in a child process, so that the clients
// under test share neither heap nor scheduler with it. It speaks QEMU 7.2's
// wire format: greeting, capabilities reply, then a stream of events,
// and closes the connection after the last one.

// eventLines are real QEMU 7.2 event lines, mixed in a fixed rotation.
var eventLines = []string{
	`{"timestamp": {"seconds": 1795271121, "microseconds": 29652}, "event": "STOP"}`,
	`{"timestamp": {"seconds": 1795271118, "microseconds": 23994}, "event": "RESUME"}`,
	`{"timestamp": {"seconds": 1795271118, "microseconds": 626801}, "event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}`,
	`{"timestamp": {"seconds": 1795271120, "microseconds": 1}, "event": "RTC_CHANGE", "data": {"offset": -32400, "qom-path": "/machine/unattached/device[11]"}}`,
	`{"timestamp": {"seconds": 1795271120, "microseconds": 2}, "event": "BLOCK_IO_ERROR", "data": {"device": "disk0", "nospace": false, "node-name": "#block215", "reason": "Input/output error", "operation": "read", "action": "stop"}}`,
	`{"timestamp": {"seconds": 1795271120, "microseconds": 3}, "event": "VNC_CONNECTED", "data": {"server": {"auth": "none", "family": "ipv4", "service": "5977", "host": "127.0.0.1", "websocket": false}, "client": {"family": "ipv4", "service": "40212", "host": "127.0.0.1", "websocket": false}}}`,
	`{"timestamp": {"seconds": 1795271120, "microseconds": 4}, "event": "WATCHDOG", "data": {"action": "pause"}}`,
	`{"timestamp": {"seconds": 1795271120, "microseconds": 5}, "event": "GUEST_PANICKED", "data": {"action": "pause"}}`,
}

const greeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}` + "\r\n"

// stream returns n event lines.
func stream(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString(eventLines[i%len(eventLines)])
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// serve is the child process: one listener per scenario, each sending its
// number of events on every connection.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "", "directory for the sockets")
	single := fs.Int("single", 0, "events per connection on single.sock")
	multi := fs.Int("multi", 0, "events per connection on multi.sock")
	burst := fs.Int("burst", 0, "events sent in the same write as the capabilities reply")
	_ = fs.Parse(args)

	for _, sc := range []struct {
		name string
		n    int
	}{{"single.sock", *single}, {"multi.sock", *multi}} {
		ln, err := net.Listen("unix", filepath.Join(*dir, sc.name))
		if err != nil {
			return err
		}
		events := stream(sc.n)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go handle(c, events, *burst)
			}
		}()
	}
	fmt.Println("ready")
	// Serve until the parent closes our stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// handle plays QEMU on one connection: greeting, capabilities reply with
// the first burst events behind it in the same write (as QEMU does when
// events are pending), the remaining events, then close.
func handle(c net.Conn, events []byte, burst int) {
	defer c.Close()
	if _, err := io.WriteString(c, greeting); err != nil {
		return
	}
	var cmd struct {
		Execute string          `json:"execute"`
		ID      json.RawMessage `json:"id"`
	}
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&cmd); err != nil || cmd.Execute != "qmp_capabilities" {
		return
	}
	reply := `{"return": {}}` + "\r\n"
	if cmd.ID != nil {
		reply = `{"return": {}, "id": ` + string(cmd.ID) + "}\r\n"
	}
	cut := 0
	for i := 0; i < burst && cut < len(events); i++ {
		cut += bytes.IndexByte(events[cut:], '\n') + 1
	}
	if _, err := c.Write(append([]byte(reply), events[:cut]...)); err != nil {
		return
	}
	const chunk = 64 << 10
	for rest := events[cut:]; len(rest) > 0; {
		n := min(chunk, len(rest))
		if _, err := c.Write(rest[:n]); err != nil {
			return
		}
		rest = rest[n:]
	}
}
