package qmp

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Read buffer sizes. A connection reads into a small buffer while QEMU
// says little (the greeting, replies, an event now and then: a few hundred
// bytes each), and into a large one, where a read system call returns
// hundreds of events at once, while data arrives faster than it is read.
// It borrows either from a pool only while it has bytes to decode, so a
// node with a thousand idle monitors keeps no read buffer at all, and a
// thousand monitors answering at once (an agent starting) borrow small
// ones.
const (
	smallReadBuffer = 4 << 10
	readBufferSize  = 32 << 10 // the largest
)

// smallReadBuffers and largeReadBuffers hold the read buffers no
// connection is using. Pointers to slices, so that putting one back does
// not allocate.
var (
	smallReadBuffers = sync.Pool{New: func() any {
		b := make([]byte, smallReadBuffer)
		return &b
	}}
	largeReadBuffers = sync.Pool{New: func() any {
		b := make([]byte, readBufferSize)
		return &b
	}}
)

// errBadReadCount reports an io.Reader that broke its contract.
var errBadReadCount = errors.New("qmp: reader returned an invalid count")

// input is the read side of one connection: the single place its bytes
// are read, in order, into one buffer at a time.
//
// A connection spends nearly all of its life waiting for QEMU to say
// something, and a read blocked on a socket would pin its buffer all that
// time. For a socket, input therefore waits for the socket to become
// readable without any buffer (through syscall.RawConn), borrows a buffer
// to read what arrived, and gives it back once every byte has been
// consumed and the next read finds the socket empty. Other readers (a
// net.Pipe in tests, a bytes.Reader in the decoder's tests) hold a
// borrowed buffer while they block, as a bufio.Reader would.
type input struct {
	src     io.Reader
	raw     syscall.RawConn       // set when src is a socket whose readiness can be awaited
	onReady func(fd uintptr) bool // in.readReady, bound once: a method value per read would allocate

	buf   *[]byte // borrowed from a pool; nil while the connection is idle
	r, w  int     // unconsumed bytes are (*buf)[r:w]
	err   error   // a read error to report once the bytes read with it are consumed
	large bool    // the last read returned more than a trickle: borrow a large buffer

	n    int   // result of the last readReady
	rerr error // error of the last readReady
}

func newInput(src io.Reader) *input {
	in := &input{src: src}
	// Only the net package's own sockets: a type that merely embeds one
	// may hold bytes of its own (a peeked prefix, a decryption buffer)
	// that reading the descriptor would skip.
	var sc syscall.Conn
	switch c := src.(type) {
	case *net.UnixConn:
		sc = c
	case *net.TCPConn:
		sc = c
	}
	if sc != nil && canReadFD {
		if rc, err := sc.SyscallConn(); err == nil {
			in.raw = rc
			in.onReady = in.readReady
		}
	}
	return in
}

// buffered returns the bytes read and not yet consumed.
func (in *input) buffered() []byte {
	if in.buf == nil {
		return nil
	}
	return (*in.buf)[in.r:in.w]
}

// consume marks the first n buffered bytes as consumed.
func (in *input) consume(n int) { in.r += n }

// read reads once into the (empty) buffer, waiting for data if there is
// none. It returns an error only when no bytes were read.
func (in *input) read() error {
	in.r, in.w = 0, 0
	if in.err != nil {
		return in.err
	}
	if in.buf != nil && len(*in.buf) != in.size() {
		in.release()
	}
	if in.raw != nil {
		return in.readSocket()
	}
	if in.buf == nil {
		in.borrow()
	}
	// Like bufio.Reader, give up on a reader that keeps returning nothing.
	for range 100 {
		n, err := in.src.Read(*in.buf)
		if n < 0 || n > len(*in.buf) {
			in.err = errBadReadCount
			return in.err
		}
		in.w = n
		in.sized(n)
		if err != nil {
			in.err = err
			if n > 0 {
				return nil // the error is reported after these bytes
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	in.err = io.ErrNoProgress
	return in.err
}

// readSocket waits until the socket is readable and reads what it holds.
func (in *input) readSocket() error {
	in.n, in.rerr = 0, nil
	if err := in.raw.Read(in.onReady); err != nil {
		in.err = err // the socket was closed or its poller failed
		return err
	}
	switch {
	case in.rerr != nil:
		in.err = in.readError(in.rerr)
	case in.n == 0:
		in.err = io.EOF
	default:
		in.w = in.n
		in.sized(in.n)
		return nil
	}
	return in.err
}

// size is the size of buffer the next read borrows.
func (in *input) size() int {
	if in.large {
		return readBufferSize
	}
	return smallReadBuffer
}

// sized picks the buffer size for the next read from what this one
// returned: a large buffer after more than half a small one, so that a
// stream that fills the small buffer moves to the large one and stays
// there until it slows to a trickle.
func (in *input) sized(n int) { in.large = n > smallReadBuffer/2 }

// borrow takes a buffer of the size the next read wants.
func (in *input) borrow() {
	if in.large {
		in.buf = largeReadBuffers.Get().(*[]byte)
	} else {
		in.buf = smallReadBuffers.Get().(*[]byte)
	}
}

// readReady is the syscall.RawConn read callback: it reads into a borrowed
// buffer, or, when the socket has nothing yet, returns the buffer and asks
// to be called again once the socket is readable.
func (in *input) readReady(fd uintptr) bool {
	if in.buf == nil {
		in.borrow()
	}
	n, err := readFD(fd, *in.buf)
	if wouldBlock(err) {
		in.release()
		return false
	}
	if err != nil || n < 0 {
		n = 0
	}
	in.n, in.rerr = n, err
	return true
}

// release gives the buffer back to the pool. Only the reader calls it,
// and only when every byte read has been consumed.
func (in *input) release() {
	if in.buf == nil {
		return
	}
	if len(*in.buf) == readBufferSize {
		largeReadBuffers.Put(in.buf)
	} else {
		smallReadBuffers.Put(in.buf)
	}
	in.buf, in.r, in.w = nil, 0, 0
}

// readError dresses a failed read system call the way net.Conn.Read
// would have reported it.
func (in *input) readError(err error) error {
	err = os.NewSyscallError("read", err)
	nc, ok := in.src.(net.Conn)
	if !ok {
		return err
	}
	op := &net.OpError{Op: "read", Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: err}
	if op.Addr != nil {
		op.Net = op.Addr.Network()
	}
	return op
}
