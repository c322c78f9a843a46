// Package qmptest provides a fake QMP server for tests.
//
// The server listens on a real unix socket and speaks exactly QEMU's wire
// format (see Format): the same member order, the same spacing and the
// same "\r\n" line ends, so that a client tested against it sees what it
// will see from QEMU. It follows the test's script instead of emulating a
// VM: a handler decides what to send and when, down to which bytes go out
// in one write call.
//
// The package does not import the client, so the client's own tests and
// the tests of its users can all use it.
package qmptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Server is a fake QMP monitor on a unix socket in a test's temp dir.
type Server struct {
	// Path is the socket path to dial.
	Path string

	t     testing.TB
	ln    *net.UnixListener
	mu    sync.Mutex
	peers []*Peer
	wg    sync.WaitGroup
}

// NewServer listens on a fresh socket. It is closed, with every peer
// connection, when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("qmptest: listen: %v", err)
	}
	s := &Server{Path: path, t: t, ln: ln}
	t.Cleanup(s.Close)
	return s
}

// Close stops listening, closes every peer connection and waits for the
// handlers started by Serve.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	peers := s.peers
	s.peers = nil
	s.mu.Unlock()
	for _, p := range peers {
		_ = p.Close()
	}
	s.wg.Wait()
}

// Accept waits for the next client.
func (s *Server) Accept(ctx context.Context) (*Peer, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = s.ln.SetDeadline(d)
	} else {
		_ = s.ln.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = s.ln.SetDeadline(time.Now()) })
	defer stop()
	c, err := s.ln.AcceptUnix()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	p := newPeer(c)
	s.mu.Lock()
	s.peers = append(s.peers, p)
	s.mu.Unlock()
	return p, nil
}

// Serve accepts clients until the server is closed and runs handler for
// each in its own goroutine. A handler error other than the client going
// away fails the test.
func (s *Server) Serve(handler func(*Peer) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			p, err := s.Accept(context.Background())
			if err != nil {
				return // closed
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer p.Close()
				if err := handler(p); err != nil && !IsDisconnect(err) {
					s.t.Errorf("qmptest: handler: %v", err)
				}
			}()
		}
	}()
}

// IsDisconnect reports whether err means the client went away.
func IsDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscallEPIPE) || errors.Is(err, syscallECONNRESET)
}

// Command is a command received from the client.
type Command struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// ID is the command's id exactly as sent, or nil.
	ID json.RawMessage `json:"id,omitempty"`
}

// Peer is the server side of one client connection.
type Peer struct {
	conn *net.UnixConn
	dec  *json.Decoder
	mu   sync.Mutex // serialises writes
}

func newPeer(c *net.UnixConn) *Peer {
	return &Peer{conn: c, dec: json.NewDecoder(bufio.NewReader(c))}
}

// Close closes the connection.
func (p *Peer) Close() error { return p.conn.Close() }

// CloseWrite shuts down the sending side only, so the client sees end of
// stream while the server can still read.
func (p *Peer) CloseWrite() error { return p.conn.CloseWrite() }

// Write sends s in exactly one write call: a test that needs two messages
// to arrive in the same read (an event right behind a reply, say) passes
// both in one Write.
func (p *Peer) Write(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := io.WriteString(p.conn, s)
	return err
}

// Greet sends QEMU 7.2's greeting with the "oob" capability, as QEMU does.
func (p *Peer) Greet() error { return p.Write(Greeting(DefaultVersion, "oob")) }

// ReadCommand reads the next command.
func (p *Peer) ReadCommand() (Command, error) {
	var c Command
	if err := p.dec.Decode(&c); err != nil {
		return c, err
	}
	return c, nil
}

// Expect reads the next command and checks its name.
func (p *Peer) Expect(name string) (Command, error) {
	c, err := p.ReadCommand()
	if err != nil {
		return c, err
	}
	if c.Execute != name {
		return c, fmt.Errorf("qmptest: got command %q, want %q", c.Execute, name)
	}
	return c, nil
}

// Reply sends a success reply to c; ret nil means {}.
func (p *Peer) Reply(c Command, ret any) error { return p.Write(Return(c.ID, ret)) }

// ReplyError sends an error reply to c.
func (p *Peer) ReplyError(c Command, class, desc string) error {
	return p.Write(Error(c.ID, class, desc))
}

// Event sends an event stamped with a fixed time.
func (p *Peer) Event(name string, data any) error {
	return p.Write(Event(name, data, 1700000000, 123456))
}

// Handshake greets, waits for qmp_capabilities and acknowledges it.
func (p *Peer) Handshake() error {
	if err := p.Greet(); err != nil {
		return err
	}
	c, err := p.Expect("qmp_capabilities")
	if err != nil {
		return err
	}
	return p.Reply(c, nil)
}

// Respond answers commands until the client goes away, with the raw reply
// line respond returns for each (use Return or Error to build it; an
// empty string sends nothing). It returns nil when the client disconnects.
func (p *Peer) Respond(respond func(Command) string) error {
	for {
		c, err := p.ReadCommand()
		if err != nil {
			if IsDisconnect(err) {
				return nil
			}
			return err
		}
		if line := respond(c); line != "" {
			if err := p.Write(line); err != nil {
				return err
			}
		}
	}
}

// WaitClosed blocks until the client closes its side, discarding any
// commands it sends.
func (p *Peer) WaitClosed() error {
	_, err := io.Copy(io.Discard, io.MultiReader(p.dec.Buffered(), p.conn))
	return err
}
