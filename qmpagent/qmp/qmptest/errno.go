package qmptest

import "syscall"

// Errors a write to a client that has gone away may fail with.
var (
	syscallEPIPE      error = syscall.EPIPE
	syscallECONNRESET error = syscall.ECONNRESET
)
