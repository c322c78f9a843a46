package qemuvm

import "fmt"

// Guests are single 512-byte boot sectors: the BIOS loads the sector at
// 0x7c00 and jumps to it in 16-bit real mode. Each program below does one
// thing to the emulated hardware and then halts, which is all it takes to
// make QEMU emit a specific event. They are assembled by hand; the
// comments give the source.

// Idle halts forever:
//
//	cli
//	hlt        ; <- loop
//	jmp loop
var Idle = []byte{0xFA, 0xF4, 0xEB, 0xFD}

// panicking reports a panic through the pvpanic ISA device (needs
// "-device pvpanic"), so QEMU emits GUEST_PANICKED:
//
//	mov al, 1      ; PVPANIC_PANICKED
//	mov dx, 0x505  ; pvpanic's I/O port
//	out dx, al
var panicking = []byte{0xB0, 0x01, 0xBA, 0x05, 0x05, 0xEE}

// arming arms the IB700 watchdog (needs "-device ib700"); unfed, it expires
// about two seconds later and QEMU emits WATCHDOG with the
// -watchdog-action in force:
//
//	mov al, 0x0e   ; timeout index
//	mov dx, 0x443  ; IB700 enable/refresh port
//	out dx, al
var arming = []byte{0xB0, 0x0E, 0xBA, 0x43, 0x04, 0xEE}

// Panic panics (pvpanic) at every boot, then halts.
var Panic = concat(panicking, Idle)

// PanicOnce panics like Panic on its first boot only; after a reset it just
// runs (Idle). A reset is then a recovery users can see.
var PanicOnce = Once(panicking)

// Watchdog arms the IB700 watchdog at every boot and never feeds it.
var Watchdog = concat(arming, Idle)

// WatchdogOnce arms the watchdog on its first boot only; after a reset it
// just runs.
var WatchdogOnce = Once(arming)

// Once runs code on the guest's first boot only, then Idle: it leaves a
// mark in a CMOS byte no firmware uses (0x7d), which survives a reset, and
// skips code when it finds the mark. code must be shorter than 128 bytes
// (a short jump):
//
//	mov al, 0x7d ; out 0x70, al ; in al, 0x71
//	cmp al, 0x5a ; je idle                     ; marked: booted before
//	mov al, 0x7d ; out 0x70, al
//	mov al, 0x5a ; out 0x71, al                ; mark
//	(code)
//	idle: (Idle)
func Once(code []byte) []byte {
	if len(code) > 119 {
		panic(fmt.Sprintf("qemuvm: %d bytes of code are too many for Once's short jump", len(code)))
	}
	return concat([]byte{
		0xB0, 0x7D, 0xE6, 0x70, 0xE4, 0x71,
		0x3C, 0x5A, 0x74, byte(8 + len(code)),
		0xB0, 0x7D, 0xE6, 0x70,
		0xB0, 0x5A, 0xE6, 0x71,
	}, code, Idle)
}

// RTC sets the CMOS real-time clock's hour, so QEMU emits RTC_CHANGE. It
// sets the SET bit of status register B, writes the hours register, and
// clears SET again, which is when the MC146818 model applies the new time:
//
//	mov al, 0x0b ; out 0x70, al ; in al, 0x71   ; read register B
//	or al, 0x80 ; mov ah, al                    ; B with SET
//	mov al, 0x0b ; out 0x70, al
//	mov al, ah ; out 0x71, al                   ; write B with SET
//	mov al, 0x04 ; out 0x70, al
//	mov al, 0x05 ; out 0x71, al                 ; hours = 05 (BCD)
//	mov al, 0x0b ; out 0x70, al
//	mov al, ah ; and al, 0x7f ; out 0x71, al    ; clear SET
var RTC = concat([]byte{
	0xB0, 0x0B, 0xE6, 0x70, 0xE4, 0x71,
	0x0C, 0x80, 0x88, 0xC4,
	0xB0, 0x0B, 0xE6, 0x70,
	0x88, 0xE0, 0xE6, 0x71,
	0xB0, 0x04, 0xE6, 0x70,
	0xB0, 0x05, 0xE6, 0x71,
	0xB0, 0x0B, 0xE6, 0x70,
	0x88, 0xE0, 0x24, 0x7F, 0xE6, 0x71,
}, Idle)

// TripleFault resets the machine from inside the guest, so QEMU emits
// RESET with guest=true: it loads an empty interrupt table and raises an
// interrupt. The reset repeats at every boot. Run it with Accel "tcg":
// under nested KVM the real-mode triple fault does not reset the VM.
//
//	lidt [cs:0x7c00+idt]  ; limit 0
//	int 3
//	idt: dw 0, dd 0
var TripleFault = []byte{
	0x2E, 0x0F, 0x01, 0x1E, 0x08, 0x7C, // lidt cs:[0x7c08]
	0xCC,       // int3
	0x90,       // pad so the descriptor sits at offset 8
	0, 0, 0, 0, // limit 0, base 0
	0, 0,
}

// BootSector pads code to a 512-byte boot sector with the 0x55 0xAA
// signature at offset 510. It panics if code does not fit.
func BootSector(code []byte) []byte {
	if len(code) > 510 {
		panic(fmt.Sprintf("qemuvm: %d bytes of boot code do not fit in a boot sector", len(code)))
	}
	img := make([]byte, 512)
	copy(img, code)
	img[510], img[511] = 0x55, 0xAA
	return img
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
