package qmp

import (
	"fmt"
	"io"
)

// maxNesting bounds how deeply arrays and objects may nest inside one
// message. QEMU never nests deeply; the bound only keeps a hostile peer from
// growing the container stack without limit. It matches encoding/json's
// limit so that the fuzz tests can compare the two decoders byte for byte.
const maxNesting = 10000

// Scanner states. The decoder is a byte-at-a-time state machine that both
// finds the end of one top-level JSON value and validates it, so a message
// is read exactly once and never needs a second validation pass.
const (
	scanObjFirst  uint8 = iota // after '{': a key or '}'
	scanObjKey                 // after ',' inside an object: a key
	scanColon                  // after a key: ':'
	scanValue                  // a value is expected
	scanArrFirst               // after '[': a value or ']'
	scanAfter                  // after a value: ',' or a closing bracket
	scanString                 // inside a string
	scanStringEsc              // after a backslash inside a string
	scanStringU                // inside \uXXXX
	scanNeg                    // after '-': a digit
	scanZero                   // after a leading 0
	scanInt                    // inside integer digits that began with 1-9
	scanDot                    // after '.': a digit
	scanFrac                   // inside fraction digits
	scanExp                    // after 'e' or 'E': a sign or a digit
	scanExpSign                // after the exponent sign: a digit
	scanExpDigits              // inside exponent digits
	scanLiteral                // inside true, false or null
)

// span is a half-open byte range [start, end) inside one message.
type span struct{ start, end int }

// member is one key/value pair of the top-level object, both spans
// relative to the start of the message. The key span includes its quotes.
type member struct{ key, val span }

// decoder splits a QMP byte stream into messages.
//
// QMP is a stream of JSON objects. QEMU ends each with "\r\n", but a
// monitor started with pretty=on spreads one object over many lines, so the
// decoder does not rely on line ends: it tracks string, escape and nesting
// state and stops at the byte that closes the top-level object. While doing
// so it records where each top-level member's key and value lie, which lets
// the caller classify a message without parsing it again.
//
// The decoder reads through one input for the whole life of the
// connection. A message that lies entirely inside the input's buffer is
// returned without copying; only a message that spans buffer refills is
// assembled in a carry-over buffer, which is never allowed to grow beyond
// the size cap and is let go whenever the decoder waits for data between
// messages, like the read buffer itself: a buffer grown for one large
// reply (query-qmp-schema is ~200 KB) does not stay pinned to an idle
// connection.
type decoder struct {
	in  *input
	max int
	err error // sticky: once the stream is broken it stays broken

	acc   []byte // bytes of the current message carried over from earlier refills
	inMsg bool   // a message has started and not yet ended

	state  uint8
	stack  []byte // open containers, '{' or '['; len(stack) is the depth
	strKey bool   // the string being scanned is an object key
	uLeft  uint8  // hex digits still expected in a \uXXXX escape
	lit    string // bytes still expected in a literal

	members []member // top-level members of the current message
	cur     member   // top-level member being scanned

	// beforeRead, if set, runs before every read that may block: the
	// connection queues the events it has batched there.
	beforeRead func()

	bytes uint64 // bytes consumed from the input, for Stats
}

func newDecoder(r io.Reader, maxMessage int) *decoder {
	return &decoder{
		in:    newInput(r),
		max:   maxMessage,
		stack: make([]byte, 0, 16),
	}
}

// next returns the next message and the spans of its top-level members.
// The returned slices are only valid until the next call: they may point
// into the reader's buffer.
//
// At a clean end of stream between messages next returns io.EOF. If the
// stream ends inside a message the error wraps io.ErrUnexpectedEOF; a
// message over the size cap yields ErrMessageTooLarge and malformed input
// ErrProtocol. All errors are sticky.
func (d *decoder) next() ([]byte, []member, error) {
	if d.err != nil {
		return nil, nil, d.err
	}
	d.acc = d.acc[:0]
	d.members = d.members[:0]
	for {
		buf, err := d.fill()
		if err != nil {
			if err == io.EOF && d.inMsg {
				err = fmt.Errorf("qmp: stream ended %d bytes into a message: %w", len(d.acc), io.ErrUnexpectedEOF)
			}
			return d.fail(err)
		}
		start, from := 0, 0
		if !d.inMsg {
			for start < len(buf) && isSpace(buf[start]) {
				start++
			}
			if start == len(buf) {
				d.discard(start)
				continue
			}
			if buf[start] != '{' {
				// QMP only ever sends objects; anything else means the
				// peer is not speaking QMP (or the stream is corrupt).
				return d.fail(fmt.Errorf("%w: expected '{' at the start of a message, got %s", ErrProtocol, quoteGarbage(buf[start:])))
			}
			d.inMsg = true
			d.state = scanObjFirst
			d.stack = append(d.stack[:0], '{')
			d.cur = member{}
			from = start + 1 // the opening brace is consumed here
		}
		base := len(d.acc) - start
		end, done, err := d.scan(buf, from, base)
		if err != nil {
			return d.fail(err)
		}
		if done {
			if size := len(d.acc) + end - start; size > d.max {
				return d.fail(fmt.Errorf("%w: message of %d bytes exceeds the limit of %d bytes", ErrMessageTooLarge, size, d.max))
			}
			var msg []byte
			if len(d.acc) == 0 {
				msg = buf[start:end]
			} else {
				d.acc = append(d.acc, buf[start:end]...)
				msg = d.acc
			}
			d.discard(end)
			d.inMsg = false
			return msg, d.members, nil
		}
		if size := len(d.acc) + len(buf) - start; size > d.max {
			return d.fail(fmt.Errorf("%w: message exceeds the limit of %d bytes (%d bytes read so far)", ErrMessageTooLarge, d.max, size))
		}
		d.acc = append(d.acc, buf[start:]...)
		d.discard(len(buf))
	}
}

// fail makes err the decoder's sticky error and lets go of its buffers:
// the stream is over.
func (d *decoder) fail(err error) ([]byte, []member, error) {
	d.err = err
	d.acc = nil
	d.in.release()
	return nil, nil, err
}

// fill returns every byte buffered in the input, reading once if the
// buffer is empty.
func (d *decoder) fill() ([]byte, error) {
	if len(d.in.buffered()) == 0 {
		if d.beforeRead != nil {
			d.beforeRead()
		}
		if !d.inMsg {
			// Between messages the carry-over buffer holds nothing, and
			// the read may wait for a long time.
			d.acc = nil
		}
		if err := d.in.read(); err != nil {
			return nil, err
		}
	}
	return d.in.buffered(), nil
}

func (d *decoder) discard(n int) {
	d.in.consume(n) // n never exceeds what is buffered
	d.bytes += uint64(n)
}

// scan advances the state machine over buf[i:]. base is the message offset
// of buf[0]. It reports the index just past the top-level object's closing
// brace when the message is complete.
func (d *decoder) scan(buf []byte, i, base int) (int, bool, error) {
	state := d.state
	n := len(buf)
	for i < n {
		c := buf[i]
		switch state {
		case scanString:
			// Fast path: most message bytes are plain string bytes.
			for i < n && plainStringByte[buf[i]] {
				i++
			}
			if i == n {
				continue
			}
			c = buf[i]
			switch {
			case c == '"':
				if d.strKey {
					if len(d.stack) == 1 {
						d.cur.key.end = base + i + 1
					}
					state = scanColon
				} else {
					state = d.valueDone(base + i + 1)
				}
			case c == '\\':
				state = scanStringEsc
			default:
				d.state = state
				return 0, false, d.syntaxError(c, "in string literal", base+i)
			}
			i++
			continue

		case scanAfter:
			if isSpace(c) {
				i++
				continue
			}
			top := d.stack[len(d.stack)-1]
			switch {
			case c == ',' && top == '{':
				state = scanObjKey
			case c == ',' && top == '[':
				state = scanValue
			case c == '}' && top == '{', c == ']' && top == '[':
				d.stack = d.stack[:len(d.stack)-1]
				if len(d.stack) == 0 {
					d.state = state
					return i + 1, true, nil
				}
				state = d.valueDone(base + i + 1)
			default:
				d.state = state
				return 0, false, d.syntaxError(c, "after value", base+i)
			}
			i++
			continue

		case scanObjFirst, scanObjKey:
			if isSpace(c) {
				i++
				continue
			}
			switch {
			case c == '"':
				if len(d.stack) == 1 {
					d.cur.key.start = base + i
				}
				d.strKey = true
				state = scanString
			case c == '}' && state == scanObjFirst:
				d.stack = d.stack[:len(d.stack)-1]
				if len(d.stack) == 0 {
					d.state = state
					return i + 1, true, nil
				}
				state = d.valueDone(base + i + 1)
			default:
				d.state = state
				return 0, false, d.syntaxError(c, "looking for the beginning of an object key", base+i)
			}
			i++
			continue

		case scanColon:
			if isSpace(c) {
				i++
				continue
			}
			if c != ':' {
				d.state = state
				return 0, false, d.syntaxError(c, "after object key", base+i)
			}
			state = scanValue
			i++
			continue

		case scanValue, scanArrFirst:
			if isSpace(c) {
				i++
				continue
			}
			if c == ']' && state == scanArrFirst {
				d.stack = d.stack[:len(d.stack)-1]
				state = d.valueDone(base + i + 1)
				i++
				continue
			}
			if len(d.stack) == 1 {
				d.cur.val.start = base + i
			}
			switch {
			case c == '"':
				d.strKey = false
				state = scanString
			case c == '{' || c == '[':
				if len(d.stack) >= maxNesting {
					d.state = state
					return 0, false, fmt.Errorf("%w: nesting deeper than %d at message offset %d", ErrProtocol, maxNesting, base+i)
				}
				d.stack = append(d.stack, c)
				if c == '{' {
					state = scanObjFirst
				} else {
					state = scanArrFirst
				}
			case c == '-':
				state = scanNeg
			case c == '0':
				state = scanZero
			case '1' <= c && c <= '9':
				state = scanInt
			case c == 't':
				d.lit, state = "rue", scanLiteral
			case c == 'f':
				d.lit, state = "alse", scanLiteral
			case c == 'n':
				d.lit, state = "ull", scanLiteral
			default:
				d.state = state
				return 0, false, d.syntaxError(c, "looking for the beginning of a value", base+i)
			}
			i++
			continue

		case scanStringEsc:
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				state = scanString
			case 'u':
				d.uLeft, state = 4, scanStringU
			default:
				d.state = state
				return 0, false, d.syntaxError(c, "in string escape code", base+i)
			}
			i++
			continue

		case scanStringU:
			if !isHex(c) {
				d.state = state
				return 0, false, d.syntaxError(c, "in \\u hexadecimal character escape", base+i)
			}
			d.uLeft--
			if d.uLeft == 0 {
				state = scanString
			}
			i++
			continue

		case scanLiteral:
			if c != d.lit[0] {
				d.state = state
				return 0, false, d.syntaxError(c, "in literal", base+i)
			}
			d.lit = d.lit[1:]
			if d.lit == "" {
				state = d.valueDone(base + i + 1)
			}
			i++
			continue
		}

		// Numbers. A number has no closing delimiter: the first byte that
		// cannot continue it ends it and is then scanned as scanAfter.
		switch state {
		case scanNeg:
			switch {
			case c == '0':
				state = scanZero
			case '1' <= c && c <= '9':
				state = scanInt
			default:
				d.state = state
				return 0, false, d.syntaxError(c, "in numeric literal", base+i)
			}
			i++
			continue
		case scanInt, scanZero:
			if state == scanInt {
				for i < n && '0' <= buf[i] && buf[i] <= '9' {
					i++
				}
				if i == n {
					continue
				}
				c = buf[i]
			}
			switch c {
			case '.':
				state = scanDot
				i++
				continue
			case 'e', 'E':
				state = scanExp
				i++
				continue
			}
		case scanDot:
			if '0' <= c && c <= '9' {
				state = scanFrac
				i++
				continue
			}
			d.state = state
			return 0, false, d.syntaxError(c, "after decimal point in numeric literal", base+i)
		case scanFrac:
			if '0' <= c && c <= '9' {
				i++
				continue
			}
			if c == 'e' || c == 'E' {
				state = scanExp
				i++
				continue
			}
		case scanExp:
			if c == '+' || c == '-' {
				state = scanExpSign
				i++
				continue
			}
			fallthrough
		case scanExpSign:
			if '0' <= c && c <= '9' {
				state = scanExpDigits
				i++
				continue
			}
			d.state = state
			return 0, false, d.syntaxError(c, "in exponent of numeric literal", base+i)
		case scanExpDigits:
			if '0' <= c && c <= '9' {
				i++
				continue
			}
		}
		// The number ended just before c; c is scanned again as scanAfter.
		state = d.valueDone(base + i)
	}
	d.state = state
	return 0, false, nil
}

// valueDone records the end of a value and returns the state that follows
// it. Values that end at depth 1 are top-level member values.
func (d *decoder) valueDone(end int) uint8 {
	if len(d.stack) == 1 {
		d.cur.val.end = end
		d.members = append(d.members, d.cur)
	}
	return scanAfter
}

func (d *decoder) syntaxError(c byte, context string, offset int) error {
	return fmt.Errorf("%w: invalid character %s %s at message offset %d", ErrProtocol, quoteChar(c), context, offset)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// plainStringByte marks the bytes that can appear in a JSON string
// without ending it or starting an escape, for the scanner's fast path.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := fmt.Sprintf("%q", string([]byte{c}))
	return "'" + s[1:len(s)-1] + "'"
}

// quoteGarbage shows the first bytes of unexpected input, for error
// messages that must say what arrived without dumping megabytes.
func quoteGarbage(b []byte) string {
	const show = 32
	if len(b) > show {
		return fmt.Sprintf("%q...", b[:show])
	}
	return fmt.Sprintf("%q", b)
}
