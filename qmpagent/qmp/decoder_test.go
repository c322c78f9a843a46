package qmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeAll runs the decoder to the end of r and returns copies of every
// message, the keys of each message's top-level members, and the error
// that stopped it.
func decodeAll(r io.Reader, max int) (msgs []string, keys [][]string, err error) {
	d := newDecoder(r, max)
	for {
		msg, members, err := d.next()
		if err != nil {
			return msgs, keys, err
		}
		msgs = append(msgs, string(msg))
		var ks []string
		for _, m := range members {
			var k string
			if json.Unmarshal(msg[m.key.start:m.key.end], &k) != nil {
				k = "!bad key span " + string(msg[m.key.start:m.key.end])
			}
			ks = append(ks, k)
		}
		keys = append(keys, ks)
	}
}

const (
	greetingLine = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
	resumeLine   = "{\"timestamp\": {\"seconds\": 1795271118, \"microseconds\": 23994}, \"event\": \"RESUME\"}\r\n"
	resetLine    = "{\"timestamp\": {\"seconds\": 1795271118, \"microseconds\": 626801}, \"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}\r\n"
	returnLine   = "{\"return\": {}, \"id\": 4}\r\n"
	prettyReset  = "{\r\n    \"timestamp\": {\r\n        \"seconds\": 1795271118,\r\n        \"microseconds\": 626801\r\n    },\r\n    \"event\": \"RESET\",\r\n    \"data\": {\r\n        \"guest\": false,\r\n        \"reason\": \"host-qmp-system-reset\"\r\n    }\r\n}\r\n"
	prettyReturn = "{\r\n    \"return\": {\r\n    },\r\n    \"id\": \"x\"\r\n}\r\n"
)

func TestDecoder(t *testing.T) {
	big := `{"return": [` + strings.Repeat(`{"name": "x-some-long-qapi-type-name", "meta-type": "object", "members": []}, `, 2800) + `{}], "id": 1}` + "\r\n"
	if len(big) < 200<<10 {
		t.Fatalf("big reply is only %d bytes", len(big))
	}
	tests := []struct {
		name     string
		in       string
		max      int
		wantMsgs []string
		wantKeys [][]string
		wantErr  error
	}{
		{
			name:     "greeting",
			in:       greetingLine,
			wantMsgs: []string{strings.TrimSpace(greetingLine)},
			wantKeys: [][]string{{"QMP"}},
			wantErr:  io.EOF,
		},
		{
			name:     "event reply event in one chunk",
			in:       resetLine + returnLine + resumeLine,
			wantMsgs: []string{strings.TrimSpace(resetLine), strings.TrimSpace(returnLine), strings.TrimSpace(resumeLine)},
			wantKeys: [][]string{{"timestamp", "event", "data"}, {"return", "id"}, {"timestamp", "event"}},
			wantErr:  io.EOF,
		},
		{
			name:     "pretty monitor spreads one message over many lines",
			in:       prettyReset + prettyReturn,
			wantMsgs: []string{strings.TrimSpace(prettyReset), strings.TrimSpace(prettyReturn)},
			wantKeys: [][]string{{"timestamp", "event", "data"}, {"return", "id"}},
			wantErr:  io.EOF,
		},
		{
			name:     "no line ends at all",
			in:       `{"a":1}{"b":[true,false,null]}  {"c":{"d":-1.5e+3}}`,
			wantMsgs: []string{`{"a":1}`, `{"b":[true,false,null]}`, `{"c":{"d":-1.5e+3}}`},
			wantKeys: [][]string{{"a"}, {"b"}, {"c"}},
			wantErr:  io.EOF,
		},
		{
			name:     "braces and quotes inside strings",
			in:       `{"desc": "x}\"{\\", "k\"ey": "\u00e9]"}` + "\r\n",
			wantMsgs: []string{`{"desc": "x}\"{\\", "k\"ey": "\u00e9]"}`},
			wantKeys: [][]string{{"desc", "k\"ey"}},
			wantErr:  io.EOF,
		},
		{
			name:     "empty object",
			in:       "\r\n{}\r\n",
			wantMsgs: []string{`{}`},
			wantKeys: [][]string{nil},
			wantErr:  io.EOF,
		},
		{
			name:     "200 KB single line passes the default cap",
			in:       big,
			wantMsgs: []string{strings.TrimSpace(big)},
			wantKeys: [][]string{{"return", "id"}},
			wantErr:  io.EOF,
		},
		{
			name:    "message over the cap",
			in:      big,
			max:     64 << 10,
			wantErr: ErrMessageTooLarge,
		},
		{
			name:     "message exactly at the cap",
			in:       `{"a":"0123456789"}` + "\r\n" + `{"a":"01234567890"}`,
			max:      18,
			wantMsgs: []string{`{"a":"0123456789"}`},
			wantKeys: [][]string{{"a"}},
			wantErr:  ErrMessageTooLarge,
		},
		{
			name:    "garbage instead of a message",
			in:      "HTTP/1.1 400 Bad Request\r\n",
			wantErr: ErrProtocol,
		},
		{
			name:     "garbage after a message",
			in:       resumeLine + "\x00\x01\x02",
			wantMsgs: []string{strings.TrimSpace(resumeLine)},
			wantKeys: [][]string{{"timestamp", "event"}},
			wantErr:  ErrProtocol,
		},
		{
			name:    "top-level array",
			in:      `[1,2]`,
			wantErr: ErrProtocol,
		},
		{
			name:    "invalid JSON inside the object",
			in:      `{"a" 1}`,
			wantErr: ErrProtocol,
		},
		{
			name:    "leading zero",
			in:      `{"a":01}`,
			wantErr: ErrProtocol,
		},
		{
			name:    "control character in string",
			in:      "{\"a\":\"x\ny\"}",
			wantErr: ErrProtocol,
		},
		{
			name:    "bad escape",
			in:      `{"a":"\x"}`,
			wantErr: ErrProtocol,
		},
		{
			name:    "trailing comma",
			in:      `{"a":1,}`,
			wantErr: ErrProtocol,
		},
		{
			name:    "bad literal",
			in:      `{"a":tru}`,
			wantErr: ErrProtocol,
		},
		{
			name:     "peer closes mid-message",
			in:       resumeLine + `{"timestamp": {"seconds": 1, "micro`,
			wantMsgs: []string{strings.TrimSpace(resumeLine)},
			wantKeys: [][]string{{"timestamp", "event"}},
			wantErr:  io.ErrUnexpectedEOF,
		},
		{
			name:    "only whitespace",
			in:      " \r\n\t\r\n",
			wantErr: io.EOF,
		},
	}
	readers := []struct {
		name string
		wrap func(*testing.T, io.Reader) io.Reader
	}{
		{"whole", func(_ *testing.T, r io.Reader) io.Reader { return r }},
		{"byte by byte", func(_ *testing.T, r io.Reader) io.Reader { return iotest.OneByteReader(r) }},
		{"half reads", func(_ *testing.T, r io.Reader) io.Reader { return iotest.HalfReader(r) }},
		{"unix socket", overSocket},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				max := tt.max
				if max == 0 {
					max = DefaultMaxMessageBytes
				}
				msgs, keys, err := decodeAll(rd.wrap(t, strings.NewReader(tt.in)), max)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if len(msgs) != len(tt.wantMsgs) {
					t.Fatalf("got %d messages, want %d: %q", len(msgs), len(tt.wantMsgs), msgs)
				}
				for i := range msgs {
					if msgs[i] != tt.wantMsgs[i] {
						t.Errorf("message %d = %.80q, want %.80q", i, msgs[i], tt.wantMsgs[i])
					}
					if strings.Join(keys[i], ",") != strings.Join(tt.wantKeys[i], ",") {
						t.Errorf("message %d keys = %q, want %q", i, keys[i], tt.wantKeys[i])
					}
				}
			})
		}
	}
}

// overSocket returns the client end of a unix socket through which a
// goroutine writes everything r holds, in writes of assorted sizes from
// one byte to tens of kilobytes, then closes the socket. Reading it, the
// decoder waits for the socket between reads, borrowing and returning
// its read buffer as a connection does.
func overSocket(t *testing.T, r io.Reader) io.Reader {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialUnix("unix", nil, ln.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		sizes := []int{1, 7, 100, 4096, 40000, 3}
		buf := make([]byte, 40000)
		for i := 0; ; i++ {
			n, err := r.Read(buf[:sizes[i%len(sizes)]])
			if _, werr := server.Write(buf[:n]); werr != nil || err != nil {
				return // the end of r, or the decoder stopped reading
			}
		}
	}()
	t.Cleanup(func() { _ = client.Close(); <-done })
	return client
}

// TestDecoderReadsSocketsWhenReady checks that the decoder reads a socket
// of the net package only once it is readable, through its descriptor,
// and gives its read buffer back at the end of the stream.
func TestDecoderReadsSocketsWhenReady(t *testing.T) {
	if !canReadFD {
		t.Skip("sockets are not read through descriptors here")
	}
	d := newDecoder(overSocket(t, strings.NewReader(resumeLine+prettyReset)), DefaultMaxMessageBytes)
	if d.in.raw == nil {
		t.Fatal("the decoder reads the socket through Read")
	}
	var got []string
	for {
		msg, _, err := d.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("error = %v, want io.EOF", err)
			}
			break
		}
		got = append(got, string(msg))
	}
	if want := []string{strings.TrimSpace(resumeLine), strings.TrimSpace(prettyReset)}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("messages = %q, want %q", got, want)
	}
	if d.in.buf != nil || d.acc != nil {
		t.Errorf("buffers kept after the end: read buffer %t, carry-over %d bytes", d.in.buf != nil, cap(d.acc))
	}
}

// TestDecoderStopsAtCap checks that an oversized message is refused after
// reading about the cap, not after buffering the whole message.
func TestDecoderStopsAtCap(t *testing.T) {
	const max = 64 << 10
	endless := io.MultiReader(strings.NewReader(`{"return": "`), neverEnding('x'))
	d := newDecoder(endless, max)
	_, _, err := d.next()
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("error = %v, want ErrMessageTooLarge", err)
	}
	if d.bytes > max+readBufferSize {
		t.Errorf("consumed %d bytes for a %d-byte cap", d.bytes, max)
	}
	if cap(d.acc) > 2*max {
		t.Errorf("carry-over buffer grew to %d bytes for a %d-byte cap", cap(d.acc), max)
	}
	if _, _, err2 := d.next(); !errors.Is(err2, ErrMessageTooLarge) {
		t.Errorf("error is not sticky: second call returned %v", err2)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestDecoderMatchesEncodingJSON compares the decoder with encoding/json
// on a corpus of valid and invalid inputs; the fuzz target does the same
// on generated inputs.
func TestDecoderMatchesEncodingJSON(t *testing.T) {
	for _, in := range decoderSeeds() {
		checkAgainstEncodingJSON(t, in)
	}
}

// checkAgainstEncodingJSON decodes in with both decoders and fails if they
// disagree on any message or on whether the stream is valid.
func checkAgainstEncodingJSON(t *testing.T, in []byte) {
	t.Helper()
	msgs, keys, err := decodeAll(bytes.NewReader(in), 1<<20)
	if errors.Is(err, ErrMessageTooLarge) {
		return
	}
	ref := json.NewDecoder(bytes.NewReader(in))
	for i, msg := range msgs {
		var want json.RawMessage
		if rerr := ref.Decode(&want); rerr != nil {
			t.Fatalf("input %q: message %d: we decoded %q, encoding/json failed: %v", in, i, msg, rerr)
		}
		if string(want) != msg {
			t.Fatalf("input %q: message %d: we decoded %q, encoding/json %q", in, i, msg, want)
		}
		var obj map[string]json.RawMessage
		if jerr := json.Unmarshal(want, &obj); jerr != nil {
			t.Fatalf("input %q: message %d is not an object: %v", in, i, jerr)
		}
		seen := map[string]bool{}
		for _, k := range keys[i] {
			seen[k] = true
		}
		for k := range obj {
			if !seen[k] {
				t.Fatalf("input %q: message %d: key %q has no member span (spans %q)", in, i, k, keys[i])
			}
		}
	}
	var next json.RawMessage
	rerr := ref.Decode(&next)
	switch {
	case errors.Is(err, io.EOF):
		if rerr != io.EOF {
			t.Fatalf("input %q: we saw a clean end after %d messages, encoding/json: %v (%q)", in, len(msgs), rerr, next)
		}
	case rerr == nil && len(next) > 0 && next[0] == '{':
		t.Fatalf("input %q: we failed (%v) where encoding/json decoded %q", in, err, next)
	case rerr == io.EOF:
		t.Fatalf("input %q: we failed (%v) where encoding/json saw a clean end", in, err)
	}
}

func decoderSeeds() [][]byte {
	s := []string{
		greetingLine, resumeLine, resetLine, returnLine, prettyReset, prettyReturn,
		greetingLine + returnLine + resumeLine,
		`{"id": 11, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}` + "\r\n",
		`{"a":[1,-0,0.5,1e10,1E-2,-3.25e+7,[],{},"",true,false,null]}`,
		`{"a":"\u00e9\ud83d\ude00\n\t\"\\\/"}`,
		`{"a":1}{"b":2}`,
		"{\"a\":\"\xff\xfe\"}",
		`{"a":1`, `{"a":`, `{"a"`, `{"`, `{`, `}`, `{"a":1}}`, `{"a":[1,]}`, `{"a":-}`, `{"a":1.}`,
		`{"a":1e}`, `{"a":"\u12"}`, `{"a":nul}`, `{"a":1 2}`, `{1:2}`, `{"a":1,"a":2}`,
		"\x00", "garbage", `"string"`, `123`, `[]`, `{"a":{"b":{"c":[[[[]]]]}}}`,
		strings.Repeat("[", 20), `{"a":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + "}",
	}
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = []byte(s[i])
	}
	return out
}
