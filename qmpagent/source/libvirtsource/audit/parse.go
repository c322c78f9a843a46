// Package audit parses the Linux audit records libvirt writes about its
// domains (VIRT_CONTROL, VIRT_MACHINE_ID, VIRT_RESOURCE), as auditd logs
// them in its RAW or ENRICHED format.
//
// Why not github.com/elastic/go-libaudit's auparse: it is a general audit
// toolkit (netlink client, rule compiler, record reassembly) whose module
// brings go-licenser, go-shellquote, testify and yaml into this module for
// one function, and its hex decoding is keyed by the kernel's field names
// (exe, comm, path, proctitle, ...), not by libvirt's (vm, old-disk,
// new-fs, rdev, ...): it would still need a libvirt-specific decoding pass
// on top. The grammar libvirt and auditd write is small, so this package
// parses it itself, with errors that say where a line went wrong, a bounded
// input size, and a fuzz target.
//
// The grammar:
//
//	line     = [ "node=" word " " ] "type=" word " msg=audit(" secs "." millis ":" serial "):" fields [ 0x1D enriched ]
//	fields   = { " " key "=" value }       ; one of them is msg='inner'
//	inner    = key "=" value { " " key "=" value }
//	value    = '"' text '"' | "'" text "'" | bare
//
// libvirt writes a string value quoted when it is plain, and as bare
// upper-case hex of its bytes when it holds a space, a double quote, a
// control byte, 0x7F or any byte >= 0x80 (virAuditEncode). Bare hex is
// decoded for the fields libvirt encodes that way; the fields it always
// writes raw (virt, op, reason, resrc, uuid, numbers, security contexts)
// are kept as they are, so that vm-pid=1234 stays 1234.
package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The record types libvirt writes (linux/audit.h).
const (
	TypeControl   = "VIRT_CONTROL"
	TypeResource  = "VIRT_RESOURCE"
	TypeMachineID = "VIRT_MACHINE_ID"
)

// numericTypes are the names auditd gives types it has no name for.
var numericTypes = map[string]string{
	"UNKNOWN[2500]": TypeControl,
	"UNKNOWN[2501]": TypeResource,
	"UNKNOWN[2502]": TypeMachineID,
}

// MaxLineBytes bounds a line; auditd's own limit is under 9 KiB.
const MaxLineBytes = 64 << 10

// enrichedSeparator starts the fields auditd's ENRICHED format appends.
const enrichedSeparator = 0x1D

// Record is one audit record.
type Record struct {
	// Node is the node= prefix auditd writes with name_format, or "".
	Node string
	// Type is the record type, e.g. VIRT_CONTROL.
	Type string
	// Time and Serial are the audit event's id, msg=audit(Time:Serial).
	Time   time.Time
	Serial uint64
	// Header holds the fields outside msg='...': pid, uid, auid, ses, subj.
	// The kernel writes them (the sender cannot), so they say who sent the
	// record. An AppArmor subj= may hold a space: "docker (enforce)".
	Header map[string]string
	// Fields holds the fields inside msg='...', hex values decoded.
	Fields map[string]string
	// Hex names the fields that were hex-encoded in the line.
	Hex map[string]bool
	// Enriched holds the fields auditd's ENRICHED format added (UID, AUID).
	Enriched map[string]string
}

// Get returns a msg field, with libvirt's "?" (unknown) as "".
func (r *Record) Get(key string) string {
	v := r.Fields[key]
	if v == "?" {
		return ""
	}
	return v
}

// IsVirt reports whether the type is one of libvirt's.
func IsVirt(typ string) bool {
	return typ == TypeControl || typ == TypeResource || typ == TypeMachineID
}

// SyntaxError is a line that is not an audit record as auditd writes it.
type SyntaxError struct {
	// Offset is the byte offset in the line where parsing stopped.
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed audit record at byte %d: %s", e.Offset, e.Msg)
}

// ErrTooLong is a line over MaxLineBytes.
var ErrTooLong = errors.New("audit line longer than 64 KiB")

// RecordType returns the type of a line without parsing the rest, so that
// a reader can skip the many records that are not libvirt's cheaply. The
// numeric names auditd uses for unknown types are translated.
func RecordType(line []byte) (string, error) {
	s := string(line)
	if strings.HasPrefix(s, "node=") {
		sp := strings.IndexByte(s, ' ')
		if sp < 0 {
			return "", &SyntaxError{Offset: len(s), Msg: "no record after node="}
		}
		s = s[sp+1:]
	}
	if !strings.HasPrefix(s, "type=") {
		return "", &SyntaxError{Offset: len(line) - len(s), Msg: `the record does not start with "type="`}
	}
	s = s[len("type="):]
	end := strings.IndexByte(s, ' ')
	if end < 0 {
		end = len(s)
	}
	typ := s[:end]
	if typ == "" {
		return "", &SyntaxError{Offset: len(line) - len(s), Msg: "empty record type"}
	}
	if t, ok := numericTypes[typ]; ok {
		typ = t
	}
	return typ, nil
}

// Parse parses one line (without its newline).
func Parse(line []byte) (*Record, error) {
	if len(line) > MaxLineBytes {
		return nil, ErrTooLong
	}
	s := strings.TrimRight(string(line), "\r\n")
	r := &Record{Header: map[string]string{}, Fields: map[string]string{}, Hex: map[string]bool{}}
	enriched := ""
	if i := strings.IndexByte(s, enrichedSeparator); i >= 0 {
		s, enriched = s[:i], s[i+1:]
	}
	p := &scanner{s: s, continued: true}
	if p.consume("node=") {
		r.Node = p.until(' ')
		if !p.consume(" ") {
			return nil, p.fail("no record after node=")
		}
	}
	if !p.consume("type=") {
		return nil, p.fail(`the record does not start with "type="`)
	}
	r.Type = p.until(' ')
	if r.Type == "" {
		return nil, p.fail("empty record type")
	}
	if t, ok := numericTypes[r.Type]; ok {
		r.Type = t
	}
	if !p.consume(" msg=audit(") {
		return nil, p.fail(`no "msg=audit(" after the type`)
	}
	stamp := p.until(')')
	if !p.consume("):") {
		return nil, p.fail("unterminated audit(...) stamp")
	}
	var err error
	if r.Time, r.Serial, err = parseStamp(stamp); err != nil {
		return nil, p.fail(err.Error())
	}
	inner := ""
	sawMsg := false
	err = p.fields(func(key, val string, quote byte) error {
		if key == "msg" && quote == '\'' {
			inner, sawMsg = val, true
			return nil
		}
		r.Header[key] = val
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sawMsg {
		return nil, p.fail("no msg='...' field")
	}
	ip := &scanner{s: inner, base: strings.Index(s, "msg='") + len("msg='")}
	err = ip.fields(func(key, val string, quote byte) error {
		if quote == 0 && encoded(key) && isHex(val) {
			b, _ := hex.DecodeString(val)
			val = string(b)
			r.Hex[key] = true
		}
		r.Fields[key] = val
		return nil
	})
	if err != nil {
		return nil, err
	}
	if enriched != "" {
		r.Enriched = map[string]string{}
		ep := &scanner{s: enriched, base: len(s) + 1}
		if err := ep.fields(func(key, val string, _ byte) error { r.Enriched[key] = val; return nil }); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// parseStamp parses "1700000000.123:456".
func parseStamp(stamp string) (time.Time, uint64, error) {
	secs, serial, ok := strings.Cut(stamp, ":")
	if !ok {
		return time.Time{}, 0, fmt.Errorf("audit stamp %q has no serial", stamp)
	}
	whole, frac, _ := strings.Cut(secs, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, 0, fmt.Errorf("bad seconds in audit stamp %q", stamp)
	}
	var nanos int64
	if frac != "" {
		if len(frac) > 9 {
			return time.Time{}, 0, fmt.Errorf("bad fraction in audit stamp %q", stamp)
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, 0, fmt.Errorf("bad fraction in audit stamp %q", stamp)
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		nanos = n
	}
	ser, err := strconv.ParseUint(serial, 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("bad serial in audit stamp %q", stamp)
	}
	return time.Unix(sec, nanos), ser, nil
}

// rawKeys are the fields libvirt never hex-encodes even when they look like
// hex: numbers, enumerations, identifiers and security contexts.
var rawKeys = map[string]bool{
	"virt": true, "op": true, "reason": true, "resrc": true, "uuid": true, "res": true,
	"vm-pid": true, "init-pid": true, "pid-ns": true, "pid": true, "uid": true, "auid": true, "ses": true,
	"old-vcpu": true, "new-vcpu": true, "old-mem": true, "new-mem": true, "size": true,
	"old-iothread": true, "new-iothread": true, "rdev": true, // rdev: hex major:minor, 0A:C8
	"model": true, "vm-ctx": true, "img-ctx": true, "subj": true,
	"class": true, "category": true, "maj": true, "major": true, "minor": true, "acl": true,
}

// encodedKeys are the fields libvirt passes through virAuditEncode.
var encodedKeys = map[string]bool{
	"vm": true, "exe": true, "hostname": true, "addr": true, "terminal": true,
	"path": true, "disk": true, "chardev": true, "device": true, "dev": true,
	"cgroup": true, "shmem": true, "source": true, "net": true, "bus": true,
}

// encoded reports whether bare hex in a field is libvirt's encoding.
func encoded(key string) bool {
	if rawKeys[key] {
		return false
	}
	return encodedKeys[key] || strings.HasPrefix(key, "old-") || strings.HasPrefix(key, "new-")
}

// isHex reports whether v is non-empty, even-length, upper-case hex.
func isHex(v string) bool {
	if v == "" || len(v)%2 != 0 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// scanner walks a string of key=value fields.
type scanner struct {
	s    string
	i    int
	base int // offset of s in the line, for errors
	// continued: a word without '=' continues the value before it. The
	// kernel writes an AppArmor label unquoted, mode and all:
	// subj=docker (enforce).
	continued bool
}

func (p *scanner) fail(msg string) error { return &SyntaxError{Offset: p.base + p.i, Msg: msg} }

func (p *scanner) consume(prefix string) bool {
	if strings.HasPrefix(p.s[p.i:], prefix) {
		p.i += len(prefix)
		return true
	}
	return false
}

func (p *scanner) until(c byte) string {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != c {
		p.i++
	}
	return p.s[start:p.i]
}

// fields calls fn for each key=value up to the end of the string (with
// continued, again for a key whose value a bare word continued).
func (p *scanner) fields(fn func(key, val string, quote byte) error) error {
	var lastKey, lastVal string
	for {
		for p.i < len(p.s) && p.s[p.i] == ' ' {
			p.i++
		}
		if p.i >= len(p.s) {
			return nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != '=' && p.s[p.i] != ' ' {
			p.i++
		}
		key := p.s[start:p.i]
		if (p.i >= len(p.s) || p.s[p.i] == ' ') && p.continued && lastKey != "" && key != "" {
			lastVal += " " + key
			if err := fn(lastKey, lastVal, 0); err != nil {
				return err
			}
			continue
		}
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			p.i = start
			return p.fail(fmt.Sprintf("field %q has no value (truncated line?)", clip(key)))
		}
		if key == "" {
			return p.fail("empty field name")
		}
		p.i++ // '='
		var val string
		var quote byte
		if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
			quote = p.s[p.i]
			end := strings.IndexByte(p.s[p.i+1:], quote)
			if key == "msg" && quote == '\'' {
				// msg='...' is the last field, and libvirt may quote a
				// value holding a ' inside it: its end is the last '.
				end = strings.LastIndexByte(p.s[p.i+1:], quote)
			}
			if end < 0 {
				return p.fail(fmt.Sprintf("unterminated %c quote in field %q (truncated line?)", quote, clip(key)))
			}
			val = p.s[p.i+1 : p.i+1+end]
			p.i += end + 2
			if p.i < len(p.s) && p.s[p.i] != ' ' {
				return p.fail(fmt.Sprintf("no space after the quoted value of field %q", clip(key)))
			}
		} else {
			val = p.until(' ')
		}
		if err := fn(key, val, quote); err != nil {
			return err
		}
		lastKey, lastVal = key, val
	}
}

// clip shortens a field name quoted in an error.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
