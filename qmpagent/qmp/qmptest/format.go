package qmptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// QEMU's wire format. QEMU writes JSON with ": " between key and value and
// ", " between members, ends every message with "\r\n", and in pretty mode
// puts each member on its own "\r\n"-terminated line indented by four
// spaces per level, rendering even an empty object over two lines. The
// functions here reproduce that byte for byte so that tests exercise the
// client against exactly what QEMU sends.

// Version is the QEMU version a fake server announces.
type Version struct {
	Major, Minor, Micro int
	Package             string
}

// DefaultVersion is the version of Debian 12's QEMU, the one CI runs.
var DefaultVersion = Version{Major: 7, Minor: 2, Micro: 22, Package: "Debian 1:7.2+dfsg-7+deb12u18+b3"}

// Greeting returns QEMU's greeting line, for example
//
//	{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "..."}, "capabilities": ["oob"]}}\r\n
func Greeting(v Version, capabilities ...string) string {
	if capabilities == nil {
		capabilities = []string{}
	}
	caps, _ := json.Marshal(capabilities)
	pkg, _ := json.Marshal(v.Package)
	compact := fmt.Sprintf(`{"QMP":{"version":{"qemu":{"micro":%d,"minor":%d,"major":%d},"package":%s},"capabilities":%s}}`,
		v.Micro, v.Minor, v.Major, pkg, caps)
	return Format([]byte(compact), false)
}

// Event returns an event line in QEMU's member order: timestamp, event,
// then data if data is not nil. data may be any value encoding/json
// accepts, or a json.RawMessage.
func Event(name string, data any, seconds, microseconds int64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"timestamp":{"seconds":%d,"microseconds":%d},"event":%s`, seconds, microseconds, mustJSON(name))
	if data != nil {
		b.WriteString(`,"data":`)
		b.Write(mustJSON(data))
	}
	b.WriteByte('}')
	return Format(b.Bytes(), false)
}

// Return returns a success reply: {"return": ret, "id": id}. id is the
// raw JSON id of the command (nil for none); ret nil means {}.
func Return(id json.RawMessage, ret any) string {
	var b bytes.Buffer
	b.WriteString(`{"return":`)
	if ret == nil {
		b.WriteString("{}")
	} else {
		b.Write(mustJSON(ret))
	}
	if id != nil {
		b.WriteString(`,"id":`)
		b.Write(id)
	}
	b.WriteByte('}')
	return Format(b.Bytes(), false)
}

// Error returns an error reply in QEMU's member order:
// {"id": id, "error": {"class": class, "desc": desc}}.
func Error(id json.RawMessage, class, desc string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	if id != nil {
		b.WriteString(`"id":`)
		b.Write(id)
		b.WriteByte(',')
	}
	fmt.Fprintf(&b, `"error":{"class":%s,"desc":%s}}`, mustJSON(class), mustJSON(desc))
	return Format(b.Bytes(), false)
}

// Pretty re-renders one message line (as returned by Greeting, Event,
// Return or Error) the way a pretty=on monitor sends it.
func Pretty(line string) string {
	return Format([]byte(strings.TrimRight(line, "\r\n")), true)
}

// Format renders valid JSON in QEMU's style and appends "\r\n".
func Format(compact []byte, pretty bool) string {
	var src bytes.Buffer
	if err := json.Compact(&src, compact); err != nil {
		panic(fmt.Sprintf("qmptest: invalid JSON %q: %v", compact, err))
	}
	in := src.Bytes()
	var out bytes.Buffer
	level := 0
	newline := func() {
		out.WriteString("\r\n")
		out.WriteString(strings.Repeat("    ", level))
	}
	inString, escaped := false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inString {
			out.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			out.WriteByte(c)
		case '{', '[':
			out.WriteByte(c)
			empty := i+1 < len(in) && (in[i+1] == '}' || in[i+1] == ']')
			if empty && !pretty {
				continue
			}
			level++
			if pretty && !empty {
				newline()
			}
		case '}', ']':
			if i > 0 && (in[i-1] == '{' || in[i-1] == '[') && !pretty {
				out.WriteByte(c)
				continue
			}
			level--
			if pretty {
				newline()
			}
			out.WriteByte(c)
		case ',':
			out.WriteByte(',')
			if pretty {
				newline()
			} else {
				out.WriteByte(' ')
			}
		case ':':
			out.WriteString(": ")
		default:
			out.WriteByte(c)
		}
	}
	out.WriteString("\r\n")
	return out.String()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("qmptest: encoding %T: %v", v, err))
	}
	return b
}
