package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// What a killed client never read.
//
// An event the generator wrote may still sit in the client's socket
// receive queue when the client is killed: the kernel drops it with the
// socket, so no client-side journal can hold it, yet the generator
// reported it as written. To tell those apart, the driver holds the
// writers (hold), stops the client (SIGSTOP), asks which reported events
// are still unread (unread: the bytes in the client's receive queue, read
// through the kernel's sock_diag, are the last ones of the stream), kills
// it and releases the writers (release). What is queued while the writers
// are held goes to no client: it is counted as unwritten at the
// disconnect, as QEMU drops what it has not sent to a monitor that left.

// queuedRec is a reported event in a session's buffer: its E or F line and
// where its bytes end in the buffer.
type queuedRec struct {
	line string
	end  int
}

// sentRec is a reported event written to the current client: its line and
// where its bytes end in the connection's stream.
type sentRec struct {
	line string
	end  int64
}

// tailBytes bounds the written events a session remembers: far more than
// a socket's receive queue holds (a few hundred KiB by default).
const tailBytes = 4 << 20

func lines(recs []queuedRec) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.line
	}
	return out
}

// wroteLocked records that the n bytes holding recs were written to the
// current client; s.mu is held.
func (s *session) wroteLocked(recs []queuedRec, n int) {
	for _, r := range recs {
		s.tail = append(s.tail, sentRec{line: r.line, end: s.sent + int64(r.end)})
	}
	s.sent += int64(n)
	drop := 0
	for drop < len(s.tail) && s.tail[drop].end <= s.sent-tailBytes {
		drop++
	}
	s.tail = s.tail[drop:]
}

// hold stops every writer after its current write and returns once none
// is writing.
func (g *Generator) hold() {
	g.held.Store(true)
	for _, s := range g.sessions {
		s.mu.Lock()
		for s.writing {
			s.cond.Wait()
		}
		s.mu.Unlock()
	}
}

// release lets the writers write again.
func (g *Generator) release() {
	g.held.Store(false)
	for _, s := range g.sessions {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// unread returns the lines of the reported events that the connected
// clients have not read, as U lines ("U VM EVENT SECONDS MICROS"). It is
// exact only while the writers are held and the clients stopped.
func (g *Generator) unread() ([]string, error) {
	queued, err := receiveQueues()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range g.sessions {
		s.mu.Lock()
		if s.conn != nil {
			ino, err := inode(s.conn)
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			readTo := s.sent - queued[ino]
			for _, r := range s.tail {
				if r.end > readTo {
					out = append(out, "U"+r.line[1:])
				}
			}
		}
		s.mu.Unlock()
	}
	return out, nil
}

// inode is the socket inode of c, which sock_diag names its peer by.
func inode(c *net.UnixConn) (uint64, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = unix.Fstat(int(fd), &st) }); err != nil {
		return 0, err
	}
	return st.Ino, statErr
}

// sock_diag's AF_UNIX request and answer (linux/unix_diag.h).
const (
	udiagShowPeer  = 0x04
	udiagShowRQLen = 0x10
	unixDiagPeer   = 2
	unixDiagRQLen  = 4
	unixDiagReqLen = 24 // struct unix_diag_req
	unixDiagMsgLen = 16 // struct unix_diag_msg
)

// receiveQueues returns, for every connected AF_UNIX socket of this
// network namespace, the bytes in its receive queue not read yet, by the
// inode of its peer.
func receiveQueues() (map[uint64]int64, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	req := make([]byte, unix.NLMSG_HDRLEN+unixDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	body := req[unix.NLMSG_HDRLEN:]
	body[0] = unix.AF_UNIX
	ne.PutUint32(body[4:], 0xffffffff) // every state
	ne.PutUint32(body[12:], udiagShowPeer|udiagShowRQLen)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request: %w", err)
	}
	out := map[uint64]int64{}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("sock_diag: the kernel refused the request")
			}
			if peer, queued, ok := parseUnixDiag(m.Data); ok {
				out[peer] = queued
			}
		}
	}
}

// parseUnixDiag reads a unix_diag_msg's peer and receive-queue attributes.
func parseUnixDiag(b []byte) (peer uint64, queued int64, ok bool) {
	if len(b) < unixDiagMsgLen {
		return 0, 0, false
	}
	ne := binary.NativeEndian
	var havePeer, haveQueue bool
	for a := b[unixDiagMsgLen:]; len(a) >= 4; {
		l, typ := int(ne.Uint16(a[0:])), ne.Uint16(a[2:])
		if l < 4 || l > len(a) {
			break
		}
		v := a[4:l]
		switch {
		case typ == unixDiagPeer && len(v) >= 4:
			peer, havePeer = uint64(ne.Uint32(v)), true
		case typ == unixDiagRQLen && len(v) >= 4:
			queued, haveQueue = int64(ne.Uint32(v)), true
		}
		a = a[min(len(a), (l+3)&^3):]
	}
	return peer, queued, havePeer && haveQueue
}
