package lxdsource

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The events endpoint is a WebSocket (RFC 6455) that LXD writes to and the
// client only reads. This is the client side of that, and no more: the
// opening handshake over the unix socket, then text (and binary) messages,
// continuation frames, and the control frames a reader must answer (ping
// with pong, close with close). It never sends data frames.

// ErrMessageTooLarge reports a message over the reader's limit; its
// payload was read and dropped, the stream is still usable.
var ErrMessageTooLarge = errors.New("websocket message over the size limit")

// errProtocol marks a broken stream: the connection cannot go on.
type errProtocol struct{ msg string }

func (e *errProtocol) Error() string { return "websocket protocol error: " + e.msg }

// wsConn is a read-only WebSocket client connection.
type wsConn struct {
	conn   net.Conn
	r      *bufio.Reader
	max    int
	wmu    sync.Mutex
	closed bool
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialEvents opens the WebSocket at path (with its query) on LXD's unix
// socket. The handshake is bounded by ctx and a 10 s deadline.
func dialEvents(ctx context.Context, socket, path string, maxMessage int) (*wsConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	ws, err := handshake(conn, path, maxMessage)
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ws, nil
}

func handshake(conn net.Conn, path string, maxMessage int) (*wsConn, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: lxd\r\n" +
		"User-Agent: vmevents-agent\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("sending the websocket handshake: %w", err)
	}
	r := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the websocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		return nil, fmt.Errorf("LXD refused the events websocket: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, &errProtocol{"bad Sec-WebSocket-Accept in the handshake"}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, &errProtocol{"the handshake did not upgrade to websocket"}
	}
	return &wsConn{conn: conn, r: r, max: maxMessage}, nil
}

// Close closes the connection (without a close handshake: it is used to
// stop, or after the peer's close was answered).
func (c *wsConn) Close() error { return c.conn.Close() }

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// ReadMessage returns the next data message. A message over the limit is
// dropped and reported as ErrMessageTooLarge (the stream goes on); any other
// error ends the stream (io.EOF after a close frame).
func (c *wsConn) ReadMessage() ([]byte, error) {
	var msg []byte
	started, tooLarge := false, false
	for {
		fin, op, n, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if op >= opClose {
			if err := c.control(op, n); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case op == opContinuation && !started:
			return nil, &errProtocol{"continuation frame with no message to continue"}
		case op != opContinuation && started:
			return nil, &errProtocol{"new message inside a fragmented one"}
		case op != opContinuation && op != opText && op != opBinary:
			return nil, &errProtocol{fmt.Sprintf("unknown opcode %#x", op)}
		}
		started = true
		if tooLarge || uint64(len(msg))+n > uint64(c.max) {
			tooLarge = true
			if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
				return nil, unexpected(err)
			}
		} else {
			start := len(msg)
			msg = append(msg, make([]byte, n)...)
			if _, err := io.ReadFull(c.r, msg[start:]); err != nil {
				return nil, unexpected(err)
			}
		}
		if fin {
			if tooLarge {
				return nil, ErrMessageTooLarge
			}
			return msg, nil
		}
	}
}

// readHeader reads a frame header. Frames from a server are not masked.
func (c *wsConn) readHeader() (fin bool, op byte, n uint64, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.r, h[:]); err != nil {
		return false, 0, 0, err
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 {
		return false, 0, 0, &errProtocol{"reserved bits set (no extension was negotiated)"}
	}
	if h[1]&0x80 != 0 {
		return false, 0, 0, &errProtocol{"masked frame from the server"}
	}
	n = uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(c.r, b[:]); err != nil {
			return false, 0, 0, unexpected(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(c.r, b[:]); err != nil {
			return false, 0, 0, unexpected(err)
		}
		n = binary.BigEndian.Uint64(b[:])
		if n > 1<<62 {
			return false, 0, 0, &errProtocol{"frame length out of range"}
		}
	}
	if op >= opClose && (n > 125 || !fin) {
		return false, 0, 0, &errProtocol{"fragmented or long control frame"}
	}
	return fin, op, n, nil
}

// control answers a control frame of n bytes.
func (c *wsConn) control(op byte, n uint64) error {
	payload := make([]byte, n)
	if _, err := io.ReadFull(c.r, payload); err != nil {
		return unexpected(err)
	}
	switch op {
	case opPing:
		return c.write(opPong, payload)
	case opPong:
		return nil
	case opClose:
		// Echo the status code, as RFC 6455 §5.5.1 asks, then end.
		code := payload
		if len(code) > 2 {
			code = code[:2]
		}
		_ = c.write(opClose, code)
		return io.EOF
	default:
		return &errProtocol{fmt.Sprintf("unknown control opcode %#x", op)}
	}
}

// write sends one masked control frame (clients must mask).
func (c *wsConn) write(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return nil
	}
	if op == opClose {
		c.closed = true
	}
	frame := make([]byte, 0, 6+len(payload))
	frame = append(frame, 0x80|op, 0x80|byte(len(payload)))
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	frame = append(frame, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(frame)
	return err
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
