package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// chunkReader returns its data in reads of at most n bytes, to move
// message boundaries across buffer refills.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.n
	if n > len(p) {
		n = len(p)
	}
	if n > len(r.data) {
		n = len(r.data)
	}
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzDecoder checks the streaming decoder against encoding/json: both
// must agree on every message and on whether the stream is valid, however
// the input is split into reads, and the member spans must cover every
// key.
func FuzzDecoder(f *testing.F) {
	for _, s := range decoderSeeds() {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		checkAgainstEncodingJSON(t, in)
		whole, _, werr := decodeAll(bytes.NewReader(in), 1<<20)
		n := int(chunk)%64 + 1
		split, _, serr := decodeAll(&chunkReader{data: in, n: n}, 1<<20)
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("reads of %d bytes changed the messages: %q vs %q", n, whole, split)
		}
		if (werr == nil) != (serr == nil) || errors.Is(werr, ErrProtocol) != errors.Is(serr, ErrProtocol) {
			t.Fatalf("reads of %d bytes changed the error: %v vs %v", n, werr, serr)
		}
		// A small cap must fail cleanly, never panic or loop.
		_, _, _ = decodeAll(&chunkReader{data: in, n: n}, 16)
	})
}

// FuzzMessage decodes one stream and builds events from it the way the
// connection does, checking the fast timestamp path against encoding/json.
func FuzzMessage(f *testing.F) {
	for _, s := range decoderSeeds() {
		f.Add(s)
	}
	f.Add([]byte(`{"event": "X", "timestamp": {"seconds": -1, "microseconds": -1}}`))
	f.Add([]byte(`{"event": "\u0053TOP", "timestamp": {"microseconds": 5, "seconds": 7, "seconds": 8}}`))
	f.Add([]byte(`{"event": "X", "timestamp": {"seconds": 1.5, "microseconds": 1e3}}`))
	f.Add([]byte(`{"event": "X", "timestamp": {"seconds": -0, "microseconds": 0}}`))
	f.Add([]byte(`{"event": "X", "timestamp": {"seconds": 12, "microseconds": 3, "x": 4}}`))
	f.Add([]byte(`{"event": 1, "return": 2, "id": 99999999999999999999}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newDecoder(bytes.NewReader(in), 1<<20)
		names := make(nameCache)
		for {
			msg, members, err := d.next()
			if err != nil {
				return
			}
			m := classify(msg, members)
			if m.kind != kindEvent {
				if m.id.present() {
					parseID(msg[m.id.start:m.id.end])
				}
				continue
			}
			ev := buildEvent(msg, m, names)
			// A map, not a struct: QMP keys are case-sensitive, while
			// encoding/json matches struct fields case-insensitively.
			var ref map[string]json.RawMessage
			if err := json.Unmarshal(msg, &ref); err != nil {
				t.Fatalf("%q: classified as an event but encoding/json fails: %v", msg, err)
			}
			var name string
			if err := json.Unmarshal(ref["event"], &name); err != nil || ev.Name != name {
				t.Fatalf("%q: name %q, encoding/json %q (%v)", msg, ev.Name, name, err)
			}
			if !bytes.Equal(ev.Data, ref["data"]) {
				t.Fatalf("%q: data %q, encoding/json %q", msg, ev.Data, ref["data"])
			}
			for _, parse := range []func([]byte) (Timestamp, bool){parseTimestampQEMU, parseTimestampFast} {
				if ts, ok := parse(ref["timestamp"]); ok {
					var want map[string]int64
					if err := json.Unmarshal(ref["timestamp"], &want); err != nil ||
						want["seconds"] != ts.Seconds || want["microseconds"] != ts.Microseconds {
						t.Fatalf("%q: fast timestamp %+v, encoding/json %+v (%v)", msg, ts, want, err)
					}
				}
			}
			_, _ = ev.Decode()
		}
	})
}

// FuzzEventDecode feeds arbitrary data to every typed event decoder: none
// may panic, and whatever decodes must encode again.
func FuzzEventDecode(f *testing.F) {
	for _, tc := range eventCases {
		f.Add(uint8(0), []byte(tc.data))
	}
	f.Add(uint8(3), []byte(`{"action":"pause","info":{"type":"hyper-v","arg1":1,"arg2":2,"arg3":3,"arg4":4,"arg5":5}}`))
	f.Add(uint8(5), []byte(`{"action":"pause","info":{"type":"tdx","error-code":0,"message":"x","gpa":4096}}`))
	f.Add(uint8(7), []byte(`{"info":{"type":"s390","core":"x"}}`))
	f.Add(uint8(9), []byte(`null`))
	names := KnownEvents()
	f.Fuzz(func(t *testing.T, pick uint8, data []byte) {
		name := names[int(pick)%len(names)]
		v, err := Event{Name: name, Data: data}.Decode()
		if err != nil {
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%s %q: decoded %#v does not encode: %v", name, data, v, err)
		}
		if strings.TrimSpace(string(data)) == "" {
			return
		}
	})
}

// FuzzConn feeds arbitrary bytes to a connection after the handshake: it
// must end with an error or a clean EOF, deliver every event it decoded
// and never panic or hang.
func FuzzConn(f *testing.F) {
	for _, s := range decoderSeeds() {
		f.Add(s)
	}
	f.Add([]byte(resetLine + returnLine + "\x16\x03\x01garbage"))
	f.Add([]byte(prettyReset + `{"return": 1, "id": 2}` + `{"QMP": {}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			if _, err := io.WriteString(server, greetingLine); err != nil {
				return
			}
			var cmd struct {
				ID json.RawMessage `json:"id"`
			}
			if json.NewDecoder(server).Decode(&cmd) != nil {
				return
			}
			_, _ = io.WriteString(server, `{"return": {}, "id": `+string(cmd.ID)+"}\r\n")
			_, _ = server.Write(in)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := NewConn(ctx, client, Options{MaxMessageBytes: 4096, QueueSize: 8})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		var got uint64
		for ev := range c.Events() {
			if ev.Gap != nil {
				got += ev.Gap.Total()
				continue
			}
			got++
		}
		if c.Err() == nil {
			t.Fatalf("events channel closed but Err() is nil")
		}
		if st := c.Stats(); st.EventsRead != got {
			t.Fatalf("read %d events, delivered or accounted %d", st.EventsRead, got)
		}
	})
}
