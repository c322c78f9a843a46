//go:build unix

package qmp

import (
	"errors"
	"syscall"
)

// canReadFD says whether readFD can read a socket's descriptor directly.
const canReadFD = true

// readFD reads from a non-blocking descriptor, retrying reads interrupted
// by a signal.
func readFD(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}

// wouldBlock reports a read that found the descriptor empty.
func wouldBlock(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
