package qemuvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// VNCHandshake connects to a VNC server, completes an RFB 3.8 handshake
// with security type None (ProtocolVersion, security, ClientInit, then the
// ServerInit), and disconnects. Against QEMU this produces VNC_CONNECTED,
// VNC_INITIALIZED and VNC_DISCONNECTED. It returns the desktop name from
// ServerInit.
func VNCHandshake(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", errorf("%w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	}

	version := make([]byte, 12)
	if _, err := io.ReadFull(c, version); err != nil {
		return "", errorf("reading ProtocolVersion: %w", err)
	}
	if !bytes.HasPrefix(version, []byte("RFB 003.")) {
		return "", errorf("not an RFB server: %q", version)
	}
	if _, err := c.Write([]byte("RFB 003.008\n")); err != nil {
		return "", errorf("%w", err)
	}

	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return "", errorf("reading security types: %w", err)
	}
	if n[0] == 0 {
		return "", errorf("server refused the connection: %s", readReason(c))
	}
	types := make([]byte, n[0])
	if _, err := io.ReadFull(c, types); err != nil {
		return "", errorf("reading security types: %w", err)
	}
	if !bytes.Contains(types, []byte{1}) {
		return "", ErrNoNoneSecurity
	}
	if _, err := c.Write([]byte{1}); err != nil { // security type None
		return "", errorf("%w", err)
	}
	var result uint32
	if err := binary.Read(c, binary.BigEndian, &result); err != nil {
		return "", errorf("reading SecurityResult: %w", err)
	}
	if result != 0 {
		return "", errorf("security failed: %s", readReason(c))
	}

	if _, err := c.Write([]byte{1}); err != nil { // ClientInit, shared
		return "", errorf("%w", err)
	}
	// ServerInit: width, height (2+2), pixel format (16), name length (4).
	head := make([]byte, 24)
	if _, err := io.ReadFull(c, head); err != nil {
		return "", errorf("reading ServerInit: %w", err)
	}
	name := make([]byte, binary.BigEndian.Uint32(head[20:]))
	if len(name) > 1<<16 {
		return "", errorf("desktop name of %d bytes", len(name))
	}
	if _, err := io.ReadFull(c, name); err != nil {
		return "", errorf("reading desktop name: %w", err)
	}
	return string(name), nil
}

func readReason(r io.Reader) string {
	var n uint32
	if binary.Read(r, binary.BigEndian, &n) != nil || n > 1<<16 {
		return "(no reason)"
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "(no reason)"
	}
	return string(b)
}

// ErrNoNoneSecurity is returned by VNCHandshake when the server does not
// offer the "None" security type.
var ErrNoNoneSecurity = errors.New("qemuvm: VNC server does not offer security type None")

// errorf wraps VNC handshake failures.
func errorf(format string, args ...any) error {
	return fmt.Errorf("qemuvm: VNC handshake: "+format, args...)
}
