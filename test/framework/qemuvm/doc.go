// Package qemuvm starts real QEMU processes with boot-sector guests, for
// `make demo`, the end-to-end suite and (through qemutest) the integration
// tests. A guest is a single 512-byte boot sector whose code makes QEMU emit
// a real event: a pvpanic guest panic, an ib700 watchdog expiry, an RTC
// write; a blkdebug disk gives real I/O errors and VNCHandshake a real VNC
// session.
package qemuvm
