package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// DefaultMix is a node's usual chatter: guests setting their clocks and
// rebooting, and faults (a disk error reported to the guest, a watchdog
// expiring), 30 % of all events.
const DefaultMix = "RTC_CHANGE=50,RESET=20,BLOCK_IO_ERROR=20,WATCHDOG=10"

const qmpBlockIOError = "BLOCK_IO_ERROR"

// events are the event kinds the mix can hold, with their data in QEMU
// 7.2's member order, for socket vm.
var events = map[string]func(rng *rand.Rand, vm int) json.RawMessage{
	"RTC_CHANGE": func(rng *rand.Rand, _ int) json.RawMessage {
		return json.RawMessage(`{"offset":` + strconv.Itoa(rng.IntN(7200)-3600) + `}`)
	},
	"RESET": func(*rand.Rand, int) json.RawMessage {
		return json.RawMessage(`{"guest":true,"reason":"guest-reset"}`)
	},
	qmpBlockIOError: func(_ *rand.Rand, vm int) json.RawMessage { return blockIOError(vm) },
	"WATCHDOG": func(*rand.Rand, int) json.RawMessage {
		return json.RawMessage(`{"action":"none"}`)
	},
	"GUEST_PANICKED": func(*rand.Rand, int) json.RawMessage {
		return json.RawMessage(`{"action":"run"}`)
	},
	"VNC_CONNECTED": func(*rand.Rand, int) json.RawMessage {
		return json.RawMessage(`{"server":{"auth":"none","family":"ipv4","service":"5900","host":"127.0.0.1","websocket":false},"client":{"family":"ipv4","service":"40000","host":"10.0.0.9","websocket":false}}`)
	},
	"POWERDOWN": func(*rand.Rand, int) json.RawMessage { return nil },
}

// blockIOError is a write error on the VM's disk, reported to the guest
// (werror=report): what a failing disk produces for every request.
func blockIOError(int) json.RawMessage { return blockIOErrorAction("report") }

// blockIOErrorAction is that write error with QEMU's action (report, stop).
func blockIOErrorAction(action string) json.RawMessage {
	return json.RawMessage(`{"device":"drive-virtio-disk0","node-name":"#block163","operation":"write","action":"` + action + `","reason":"Input/output error"}`)
}

func knownEvents() []string {
	var names []string
	for n := range events {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Mix is a weighted choice of events.
type Mix struct {
	names   []string
	cumul   []int
	total   int
	payload []func(*rand.Rand, int) json.RawMessage
}

// ParseMix reads NAME=WEIGHT,...
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		weight, err := strconv.Atoi(w)
		if !ok || err != nil || weight <= 0 {
			return Mix{}, fmt.Errorf("mix %q: want NAME=WEIGHT with a positive weight", part)
		}
		f, ok := events[name]
		if !ok {
			return Mix{}, fmt.Errorf("mix: unknown event %s (known: %s)", name, strings.Join(knownEvents(), ", "))
		}
		m.total += weight
		m.names = append(m.names, name)
		m.cumul = append(m.cumul, m.total)
		m.payload = append(m.payload, f)
	}
	return m, nil
}

func (m Mix) pick(rng *rand.Rand, vm int) (string, json.RawMessage) {
	r := rng.IntN(m.total)
	for i, c := range m.cumul {
		if r < c {
			return m.names[i], m.payload[i](rng, vm)
		}
	}
	panic("unreachable")
}

// vmName is the name socket i's QEMU was started with (-name).
func vmName(i int) string { return fmt.Sprintf("vm-%04d", i) }

// vmUUID is socket i's -uuid.
func vmUUID(i int) string { return fmt.Sprintf("5f0c3a3e-8d1b-4c55-9a4e-%012x", i) }
