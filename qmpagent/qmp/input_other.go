//go:build !unix

package qmp

// canReadFD is false where sockets are not read through file descriptors:
// there the reader holds its buffer while it waits.
const canReadFD = false

func readFD(uintptr, []byte) (int, error) { panic("qmp: readFD is unix-only") }

func wouldBlock(error) bool { return false }
