package libvirtsource

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// libvirt's RPC framing: a 4-byte length (itself included), then program,
// version, procedure, type, serial and status, 4 bytes each.
const (
	rpcHeaderBytes = 28
	// rpcMaxPacket is libvirt's VIR_NET_MESSAGE_MAX plus header room.
	rpcMaxPacket               = 32<<20 + 4<<10
	qemuProgram                = 0x20008087
	qemuProcDomainMonitorEvent = 6
)

// connect opens a libvirt connection. For a local URI (unix transport) it
// wraps the socket in fixNullDetails, because go-libvirt cannot decode a
// QEMU monitor event whose details are null (STOP, RESUME, POWERDOWN: the
// events with no data) and silently drops it.
func connect(uri string) (*libvirt.Libvirt, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	scheme := strings.SplitN(u.Scheme, "+", 2)
	local := (len(scheme) == 1 && u.Host == "") || (len(scheme) == 2 && scheme[1] == "unix")
	if !local {
		return libvirt.ConnectToURI(u)
	}
	var opts []dialers.LocalOption
	if s := u.Query().Get("socket"); s != "" {
		opts = append(opts, dialers.WithSocket(s))
	}
	l := libvirt.NewWithDialer(&fixingDialer{inner: dialers.NewLocal(opts...)})
	if err := l.ConnectToURI(libvirt.RemoteURI(u)); err != nil {
		return nil, err
	}
	return l, nil
}

type fixingDialer struct {
	inner interface{ Dial() (net.Conn, error) }
}

func (d *fixingDialer) Dial() (net.Conn, error) {
	c, err := d.inner.Dial()
	if err != nil {
		return nil, err
	}
	return &fixNullDetails{Conn: c}, nil
}

// fixNullDetails rewrites, packet by packet, QEMU monitor events whose
// optional details string is absent into ones with an empty string, which
// go-libvirt decodes. Everything else passes unchanged.
type fixNullDetails struct {
	net.Conn
	mu  sync.Mutex
	out []byte
	err error
}

func (c *fixNullDetails) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		pkt, err := readPacket(c.Conn)
		if err != nil {
			c.err = err
			if len(pkt) == 0 {
				return 0, err
			}
		}
		c.out = FixPacket(pkt)
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func readPacket(r io.Reader) ([]byte, error) {
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	if n < 4 || n > rpcMaxPacket {
		return lenBuf[:], fmt.Errorf("libvirt packet of %d bytes", n)
	}
	pkt := make([]byte, n)
	copy(pkt, lenBuf[:])
	if _, err := io.ReadFull(r, pkt[4:]); err != nil {
		return nil, err
	}
	return pkt, nil
}

// FixPacket returns a libvirt RPC packet with a QEMU monitor event's null
// details made an empty string; other packets are returned as they are.
func FixPacket(pkt []byte) []byte {
	if len(pkt) < rpcHeaderBytes+4 {
		return pkt
	}
	be := binary.BigEndian
	if be.Uint32(pkt[4:]) != qemuProgram || be.Uint32(pkt[12:]) != qemuProcDomainMonitorEvent {
		return pkt
	}
	// The body ends with the details: a 4-byte "present" flag, then the
	// string when present. A null one is a 0 flag with nothing after.
	if be.Uint32(pkt[len(pkt)-4:]) != 0 || !nullDetails(pkt[rpcHeaderBytes:]) {
		return pkt
	}
	fixed := make([]byte, len(pkt)+4)
	copy(fixed, pkt)
	be.PutUint32(fixed[len(pkt)-4:], 1) // present
	be.PutUint32(fixed[len(pkt):], 0)   // an empty string
	be.PutUint32(fixed, uint32(len(fixed)))
	return fixed
}

// nullDetails walks a qemu_domain_monitor_event_msg body (callbackID,
// domain {name, uuid, id}, event, seconds, micros, details) and reports
// whether its details are null and end the body.
func nullDetails(b []byte) bool {
	be := binary.BigEndian
	i := 4 // callbackID
	str := func() bool {
		if i+4 > len(b) {
			return false
		}
		n := int(be.Uint32(b[i:]))
		i += 4 + (n+3)/4*4
		return n >= 0 && i <= len(b)
	}
	if !str() { // domain name
		return false
	}
	i += 16 + 4               // uuid, id
	if i > len(b) || !str() { // event
		return false
	}
	i += 8 + 4 // seconds, micros
	return i+4 == len(b) && be.Uint32(b[i:]) == 0
}
