package qmpagent_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// poison is what a non-genuine QMP peer sends to poison a VM's status, and
// what it answers to the agent's queries afterwards: the display clients
// and failing disks its events left behind, as a real QEMU would list
// them, so that a re-sync (after a gap, say) keeps them rather than
// clearing the sessions only the events told of.
type poison struct {
	send   func(p *qmptest.Peer) error
	vnc    []any // query-vnc's clients
	spice  []any // query-spice's channels
	blocks []any // query-block's devices
}

// hostileQEMU is a QMP peer on a real socket that sends its poison once (on
// the first connection), then, once told (panicNow), a guest panic as QEMU
// 7.2 sends one with -action panic=pause: GUEST_PANICKED, STOP, and
// query-status saying guest-panicked from then on. Every goroutine it
// starts ends when the spec does.
type hostileQEMU struct {
	*qmptest.Server
	poison   poison
	panic    chan struct{}
	done     chan struct{}
	sent     atomic.Bool
	panicked atomic.Bool
}

func startHostileQEMU(p poison) *hostileQEMU {
	h := &hostileQEMU{Server: qmptest.NewServer(suiteT), poison: p, panic: make(chan struct{}), done: make(chan struct{})}
	DeferCleanup(h.Close)                  // runs last: the script has ended
	DeferCleanup(func() { close(h.done) }) // ends a script still waiting
	h.Serve(h.serve)
	return h
}

// panicNow makes the peer's guest panic.
func (h *hostileQEMU) panicNow() { close(h.panic) }

func (h *hostileQEMU) serve(p *qmptest.Peer) error {
	if err := p.Handshake(); err != nil {
		return err
	}
	replies := make(chan error, 1)
	go func() { replies <- p.Respond(h.respond) }()
	if h.sent.CompareAndSwap(false, true) {
		if err := h.script(p); err != nil {
			return err // the server closes p, which ends Respond
		}
	}
	return <-replies
}

func (h *hostileQEMU) script(p *qmptest.Peer) error {
	if err := h.poison.send(p); err != nil {
		return err
	}
	select {
	case <-h.panic:
	case <-h.done:
		return nil
	}
	h.panicked.Store(true)
	if err := sendEvent(p, "GUEST_PANICKED", map[string]any{"action": "pause"}); err != nil {
		return err
	}
	return sendEvent(p, "STOP", nil)
}

func (h *hostileQEMU) respond(c qmptest.Command) string {
	switch c.Execute {
	case "query-status":
		if h.panicked.Load() {
			return qmptest.Return(c.ID, map[string]any{"running": false, "singlestep": false, "status": "guest-panicked"})
		}
	case "query-vnc":
		if h.poison.vnc != nil {
			return qmptest.Return(c.ID, map[string]any{"enabled": true, "host": "0.0.0.0", "family": "ipv4", "service": "5900",
				"auth": "none", "clients": h.poison.vnc})
		}
	case "query-spice":
		if h.poison.spice != nil {
			return qmptest.Return(c.ID, map[string]any{"enabled": true, "migrated": false, "host": "0.0.0.0", "port": 5930,
				"auth": "none", "compiled-version": "0.15.1", "mouse-mode": "client", "channels": h.poison.spice})
		}
	case "query-block":
		if h.poison.blocks != nil {
			return qmptest.Return(c.ID, h.poison.blocks)
		}
	}
	return qmptest.RunningQEMU(c)
}

// sendEvent sends an event stamped now, as QEMU stamps its events.
func sendEvent(p *qmptest.Peer, name string, data any) error {
	now := time.Now()
	return p.Write(qmptest.Event(name, data, now.Unix(), int64(now.Nanosecond()/1000)))
}

// events sends each event in turn.
func events(p *qmptest.Peer, evs ...func(p *qmptest.Peer) error) error {
	for _, send := range evs {
		if err := send(p); err != nil {
			return err
		}
	}
	return nil
}

func ev(name string, data any) func(p *qmptest.Peer) error {
	return func(p *qmptest.Peer) error { return sendEvent(p, name, data) }
}

// vncClients connects and authenticates n VNC clients, each from its own
// address.
func vncClients(n int) poison {
	server := map[string]any{"host": "0.0.0.0", "service": "5900", "family": "ipv4", "websocket": false, "auth": "none"}
	var p poison
	var sends []func(*qmptest.Peer) error
	for i := range n {
		client := map[string]any{"host": fmt.Sprintf("198.51.100.%d", i+1), "service": strconv.Itoa(40000 + i), "family": "ipv4", "websocket": false}
		p.vnc = append(p.vnc, client)
		sends = append(sends, ev("VNC_CONNECTED", map[string]any{"server": server, "client": client}),
			ev("VNC_INITIALIZED", map[string]any{"server": server, "client": client}))
	}
	p.send = func(peer *qmptest.Peer) error { return events(peer, sends...) }
	return p
}

// failingDisks reports a write error on n disks named by name.
func failingDisks(n int, name func(i int) string) poison {
	var p poison
	var sends []func(*qmptest.Peer) error
	for i := range n {
		p.blocks = append(p.blocks, map[string]any{"device": name(i), "qdev": fmt.Sprintf("/machine/peripheral/disk%d/virtio-backend", i),
			"type": "unknown", "removable": false, "locked": false, "io-status": "failed"})
		sends = append(sends, ev("BLOCK_IO_ERROR", map[string]any{"device": name(i), "node-name": fmt.Sprintf("#block%03d", i),
			"operation": "write", "action": "report", "nospace": false, "reason": "Input/output error"}))
	}
	p.send = func(peer *qmptest.Peer) error { return events(peer, sends...) }
	return p
}

// spiceClients connects clients SPICE clients with channels channels each.
func spiceClients(clients, channels int) poison {
	server := map[string]any{"host": "0.0.0.0", "port": "5930", "family": "ipv4"}
	var p poison
	var sends []func(*qmptest.Peer) error
	for c := range clients {
		for ch := range channels {
			addr := map[string]any{"host": fmt.Sprintf("203.0.113.%d", c+1), "port": strconv.Itoa(50000 + ch), "family": "ipv4"}
			channel := map[string]any{"host": addr["host"], "port": addr["port"], "family": "ipv4",
				"connection-id": 1000 + c, "channel-type": ch + 1, "channel-id": 0, "tls": false}
			p.spice = append(p.spice, channel)
			sends = append(sends, ev("SPICE_CONNECTED", map[string]any{"server": server, "client": addr}),
				ev("SPICE_INITIALIZED", map[string]any{"server": map[string]any{"host": "0.0.0.0", "port": "5930", "family": "ipv4", "auth": "none"}, "client": channel}))
		}
	}
	p.send = func(peer *qmptest.Peer) error { return events(peer, sends...) }
	return p
}

// longStrings sends a reset, a watchdog expiry, a panic and a disk error
// whose strings are each far longer than their status field.
func longStrings(n int) poison {
	long := func(what string) string { return what + strings.Repeat("x", n) }
	p := failingDisks(1, func(int) string { return long("disk") })
	disk := p.send
	p.send = func(peer *qmptest.Peer) error {
		return events(peer,
			ev("RESET", map[string]any{"guest": true, "reason": long("reason")}),
			ev("WATCHDOG", map[string]any{"action": long("action")}),
			ev("GUEST_PANICKED", map[string]any{"action": long("action")}),
			disk)
	}
	return p
}

// inventedNames sends one event of each of n names no QEMU has.
func inventedNames(n int) poison {
	return poison{send: func(peer *qmptest.Peer) error {
		for i := range n {
			if err := sendEvent(peer, fmt.Sprintf("X_INVENTED_%05d", i), map[string]any{"i": i}); err != nil {
				return err
			}
		}
		return nil
	}}
}

// ostFlood is a guest writing the ACPI _OST register in a loop: n
// ACPI_DEVICE_OST events, no two with the same source and status.
func ostFlood(n int) poison {
	return poison{send: func(peer *qmptest.Peer) error {
		for i := range n {
			info := map[string]any{"device": "dimm0", "slot": "0", "slot-type": "DIMM", "source": i, "status": i % 0x100}
			if err := sendEvent(peer, "ACPI_DEVICE_OST", map[string]any{"info": info}); err != nil {
				return err
			}
		}
		return nil
	}}
}
