package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// benchEvents is a mix of real event lines as QEMU 7.2 writes them.
var benchEvents = []string{
	"{\"timestamp\": {\"seconds\": 1795271121, \"microseconds\": 29652}, \"event\": \"STOP\"}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271118, \"microseconds\": 23994}, \"event\": \"RESUME\"}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271118, \"microseconds\": 626801}, \"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271120, \"microseconds\": 1}, \"event\": \"RTC_CHANGE\", \"data\": {\"offset\": -3599, \"qom-path\": \"/machine/unattached/device[14]\"}}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271120, \"microseconds\": 2}, \"event\": \"BLOCK_IO_ERROR\", \"data\": {\"device\": \"disk0\", \"nospace\": false, \"node-name\": \"#block153\", \"reason\": \"Input/output error\", \"operation\": \"read\", \"action\": \"stop\"}}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271120, \"microseconds\": 3}, \"event\": \"VNC_CONNECTED\", \"data\": {\"server\": {\"auth\": \"none\", \"family\": \"ipv4\", \"service\": \"5977\", \"host\": \"127.0.0.1\", \"websocket\": false}, \"client\": {\"family\": \"ipv4\", \"service\": \"40212\", \"host\": \"127.0.0.1\", \"websocket\": false}}}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271120, \"microseconds\": 4}, \"event\": \"WATCHDOG\", \"data\": {\"action\": \"pause\"}}\r\n",
	"{\"timestamp\": {\"seconds\": 1795271120, \"microseconds\": 5}, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n",
}

// benchStream returns n events, cycling through benchEvents.
func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString(benchEvents[i%len(benchEvents)])
	}
	return b.Bytes()
}

// BenchmarkDecoder measures splitting and validating the stream.
func BenchmarkDecoder(b *testing.B) {
	stream := benchStream(4096)
	b.SetBytes(int64(len(stream)) / 4096)
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	d := newDecoder(r, DefaultMaxMessageBytes)
	for i := 0; i < b.N; i++ {
		if _, _, err := d.next(); err != nil {
			r.Reset(stream)
			d = newDecoder(r, DefaultMaxMessageBytes)
			if _, _, err := d.next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecodeEvent measures everything the reader does per event
// short of queueing it: decode, classify, build the Event.
func BenchmarkDecodeEvent(b *testing.B) {
	stream := benchStream(4096)
	b.SetBytes(int64(len(stream)) / 4096)
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	d := newDecoder(r, DefaultMaxMessageBytes)
	names := make(nameCache)
	for i := 0; i < b.N; i++ {
		msg, members, err := d.next()
		if err != nil {
			r.Reset(stream)
			d = newDecoder(r, DefaultMaxMessageBytes)
			msg, members, err = d.next()
			if err != nil {
				b.Fatal(err)
			}
		}
		m := classify(msg, members)
		_ = buildEvent(msg, m, names)
	}
}

// BenchmarkEncodingJSONDecoder is the baseline the decoder replaces:
// encoding/json's streaming decoder on the same stream.
func BenchmarkEncodingJSONDecoder(b *testing.B) {
	stream := benchStream(4096)
	b.SetBytes(int64(len(stream)) / 4096)
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	d := json.NewDecoder(r)
	for i := 0; i < b.N; i++ {
		var v struct {
			Event     string          `json:"event"`
			Data      json.RawMessage `json:"data"`
			Timestamp Timestamp       `json:"timestamp"`
		}
		if err := d.Decode(&v); err != nil {
			r.Reset(stream)
			d = json.NewDecoder(r)
		}
	}
}

// BenchmarkConnEvents measures events per second end to end: a server
// writes the stream to a real unix socket and the consumer counts events
// received from the Events channel.
func BenchmarkConnEvents(b *testing.B) {
	benchConn(b, func(c *Conn, receive func(Event)) {
		for ev := range c.Events() {
			receive(ev)
		}
	})
}

// BenchmarkConnNextEvent is BenchmarkConnEvents with the consumer calling
// NextEvent, as the agent's sessions do.
func BenchmarkConnNextEvent(b *testing.B) {
	benchConn(b, func(c *Conn, receive func(Event)) {
		for {
			ev, err := c.NextEvent(context.Background())
			if err != nil {
				return
			}
			receive(ev)
		}
	})
}

// benchConn serves b.N events over a unix socket and has consume receive
// them all.
func benchConn(b *testing.B, consume func(c *Conn, receive func(Event))) {
	path := filepath.Join(b.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	block := benchStream(4096)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = io.WriteString(nc, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n")
		var cmd struct {
			ID json.RawMessage `json:"id"`
		}
		if json.NewDecoder(nc).Decode(&cmd) != nil {
			return
		}
		_, _ = io.WriteString(nc, "{\"return\": {}, \"id\": "+string(cmd.ID)+"}\r\n")
		for left := b.N; left > 0; left -= 4096 {
			chunk := block
			if left < 4096 {
				chunk = benchStream(left)
			}
			if _, err := nc.Write(chunk); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	c, err := Dial(context.Background(), path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	n, lost := 0, uint64(0)
	consume(c, func(ev Event) {
		if ev.Gap != nil {
			lost += ev.Gap.Total()
			return
		}
		n++
	})
	b.StopTimer()
	if uint64(n)+lost != uint64(b.N) {
		b.Fatalf("got %d events and %d lost, sent %d", n, lost, b.N)
	}
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
