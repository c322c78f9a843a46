package qmp

import (
	"bytes"
	"encoding/json"
)

// msgKind classifies a server message.
type msgKind uint8

const (
	kindUnknown  msgKind = iota // a JSON object that is none of the below
	kindEvent                   // {"event": ..., "data": ..., "timestamp": ...}
	kindReply                   // {"return": ...} or {"error": ...}, with "id" if the command had one
	kindGreeting                // {"QMP": {...}}
)

// message is a classified server message. Its spans index into the raw
// message bytes, which are only valid until the decoder reads again.
type message struct {
	kind msgKind
	// Positions of the members this package understands; start == end
	// means the member is absent.
	event, data, timestamp, id, ret, err, qmp span
}

// classify finds the members of a top-level QMP object from the member
// spans the decoder recorded. Unknown members are ignored, as the QMP
// specification asks of clients. If a key repeats, the last one wins, as
// with encoding/json.
func classify(msg []byte, members []member) message {
	var m message
	for _, mb := range members {
		key := msg[mb.key.start+1 : mb.key.end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(msg[mb.key.start:mb.key.end], &s) != nil {
				continue
			}
			key = []byte(s)
		}
		switch string(key) {
		case "event":
			m.event = mb.val
		case "data":
			m.data = mb.val
		case "timestamp":
			m.timestamp = mb.val
		case "id":
			m.id = mb.val
		case "return":
			m.ret = mb.val
		case "error":
			m.err = mb.val
		case "QMP":
			m.qmp = mb.val
		}
	}
	switch {
	case m.event.end > m.event.start && msg[m.event.start] == '"':
		m.kind = kindEvent
	case m.ret.end > m.ret.start || m.err.end > m.err.start:
		m.kind = kindReply
	case m.qmp.end > m.qmp.start:
		m.kind = kindGreeting
	}
	return m
}

// buildEvent makes an Event from a message classified as kindEvent. Only
// the data is copied out of the read buffer; the name is interned.
func buildEvent(msg []byte, m message, names nameCache) Event {
	ev := Event{
		Name:      names.eventName(msg[m.event.start:m.event.end]),
		Timestamp: unknownTimestamp,
	}
	if m.data.present() {
		ev.Data = append(json.RawMessage(nil), msg[m.data.start:m.data.end]...)
	}
	if m.timestamp.present() {
		ev.Timestamp = parseTimestamp(msg[m.timestamp.start:m.timestamp.end])
	}
	return ev
}

// present reports whether a member span is set.
func (s span) present() bool { return s.end > s.start }

// nameCache interns event names that are not in the package's table, so
// that a peer sending a custom event name repeatedly costs one allocation
// per name, not per event. It is bounded so a peer cannot grow it without
// limit.
type nameCache map[string]string

const nameCacheMax = 1024

// eventName returns the event name held in a JSON string span.
func (c nameCache) eventName(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if needsUnquote(inner) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return string(inner)
		}
		return s
	}
	if s, ok := internedNames[string(inner)]; ok {
		return s
	}
	if s, ok := c[string(inner)]; ok {
		return s
	}
	s := string(inner)
	if len(c) < nameCacheMax {
		c[s] = s
	}
	return s
}

// needsUnquote reports whether a JSON string's contents need decoding:
// escapes, or non-ASCII bytes that encoding/json would check (and replace
// if they are not valid UTF-8). QEMU's names are plain ASCII.
func needsUnquote(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= 0x80 {
			return true
		}
	}
	return false
}

// parseTimestamp reads {"seconds": N, "microseconds": M}. QEMU always
// writes two plain integers, which the fast path handles without
// encoding/json; anything else goes through encoding/json, and a value
// that is not a timestamp at all yields the unknown timestamp rather than
// an error, since a bad timestamp is no reason to drop an event.
func parseTimestamp(b []byte) Timestamp {
	if ts, ok := parseTimestampQEMU(b); ok {
		return ts
	}
	if ts, ok := parseTimestampFast(b); ok {
		return ts
	}
	var v struct {
		Seconds      *json.Number `json:"seconds"`
		Microseconds *json.Number `json:"microseconds"`
	}
	if json.Unmarshal(b, &v) != nil || v.Seconds == nil || v.Microseconds == nil {
		return unknownTimestamp
	}
	s, err1 := v.Seconds.Int64()
	us, err2 := v.Microseconds.Int64()
	if err1 != nil || err2 != nil {
		return unknownTimestamp
	}
	return Timestamp{Seconds: s, Microseconds: us}
}

// parseTimestampQEMU parses the exact bytes QEMU writes,
// {"seconds": N, "microseconds": M}, the case that matters for speed.
func parseTimestampQEMU(b []byte) (Timestamp, bool) {
	const head, mid = `{"seconds": `, `, "microseconds": `
	if len(b) < len(head)+len(mid)+3 || string(b[:len(head)]) != head || b[len(b)-1] != '}' {
		return Timestamp{}, false
	}
	b = b[len(head) : len(b)-1]
	k := 0
	for k < len(b) && (b[k] == '-' || '0' <= b[k] && b[k] <= '9') {
		k++
	}
	if len(b)-k < len(mid) || string(b[k:k+len(mid)]) != mid {
		return Timestamp{}, false
	}
	s, ok1 := parseInt(b[:k])
	us, ok2 := parseInt(b[k+len(mid):])
	if !ok1 || !ok2 {
		return Timestamp{}, false
	}
	return Timestamp{Seconds: s, Microseconds: us}, true
}

// parseTimestampFast handles a flat object of the two integer members, in
// any order, with any whitespace. b is known to be valid JSON.
func parseTimestampFast(b []byte) (Timestamp, bool) {
	var ts Timestamp
	var haveS, haveUS bool
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ts, false
	}
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		j := bytes.IndexByte(b[i+1:], '"')
		if j < 0 {
			return ts, false
		}
		key := b[i+1 : i+1+j]
		i = skipSpace(b, i+j+2)
		if i >= len(b) || b[i] != ':' {
			return ts, false
		}
		i = skipSpace(b, i+1)
		k := i
		if k < len(b) && b[k] == '-' {
			k++
		}
		for k < len(b) && '0' <= b[k] && b[k] <= '9' {
			k++
		}
		n, ok := parseInt(b[i:k])
		if !ok {
			return ts, false
		}
		switch string(key) {
		case "seconds":
			ts.Seconds, haveS = n, true
		case "microseconds":
			ts.Microseconds, haveUS = n, true
		default:
			return ts, false
		}
		i = skipSpace(b, k)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if i >= len(b) || b[i] != '}' || !haveS || !haveUS {
		return ts, false
	}
	return ts, true
}

// parseInt parses an optionally negative decimal integer of at most 18
// digits, which cannot overflow an int64. Like JSON, it refuses a sign
// without digits, a second sign and leading zeros.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// parseID reads a command id this client sent: a plain non-negative
// integer. Any other id cannot be one of ours.
func parseID(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
