package model

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// The notes of the events that change no fact the agent keeps: exports,
// persistent-reservation managers, memory devices, failover pairs, network
// streams, COLO, SPICE migration and guest memory dumps. Each note says
// what the event's data says, every string bounded and cleaned.

func blockExportDeleted(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.BlockExportDeletedEvent)
	return detail{note: fmt.Sprintf("Block export %s deleted", s(e.ID)), series: s(e.ID)}
}

func prManagerStatusChanged(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.PRManagerStatusChangedEvent)
	state := "disconnected"
	if e.Connected {
		state = "connected"
	}
	return detail{note: fmt.Sprintf("Persistent reservation manager %s %s", s(e.ID), state), series: s(e.ID) + "/" + state}
}

func spiceMigrateCompleted(*Facts, any, time.Time) detail {
	return detail{note: "SPICE clients moved to the migration target"}
}

func memoryDeviceSizeChange(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.MemoryDeviceSizeChangeEvent)
	dev := blockDevice(e.ID, e.QOMPath)
	return detail{
		note:   fmt.Sprintf("Memory device %s (%s) now %d MiB (%d bytes)", dev, s(e.QOMPath), e.Size>>20, e.Size),
		series: dev,
	}
}

func failoverNegotiated(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.FailoverNegotiatedEvent)
	return detail{note: fmt.Sprintf("Guest accepted failover for virtio-net device %s", s(e.DeviceID)), series: s(e.DeviceID)}
}

func unplugPrimary(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.UnplugPrimaryEvent)
	return detail{note: fmt.Sprintf("Primary device %s of a failover pair unplugged for migration", s(e.DeviceID)), series: s(e.DeviceID)}
}

func netdevStreamConnected(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.NetdevStreamConnectedEvent)
	return detail{
		note:   fmt.Sprintf("Network backend %s connected to %s", s(e.NetdevID), socketAddress(e.Addr)),
		series: s(e.NetdevID) + "/connected",
	}
}

func netdevStreamDisconnected(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.NetdevStreamDisconnectedEvent)
	return detail{note: fmt.Sprintf("Network backend %s disconnected", s(e.NetdevID)), series: s(e.NetdevID) + "/disconnected"}
}

// socketAddress puts QEMU's SocketAddress union (qapi/sockets.json) into
// words; a type this agent does not know is quoted as sent.
func socketAddress(raw json.RawMessage) string {
	var a struct {
		Type string `json:"type"`
		Host string `json:"host"`
		Port string `json:"port"`
		Path string `json:"path"`
		CID  string `json:"cid"`
		Str  string `json:"str"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil {
		return "an address QEMU did not describe: " + Clean(string(raw), MaxFieldBytes)
	}
	switch a.Type {
	case "inet":
		return hostPort(a.Host, a.Port)
	case "unix":
		return "unix socket " + s(a.Path)
	case "vsock":
		return "vsock " + s(a.CID) + ":" + s(a.Port)
	case "fd":
		return "file descriptor " + s(a.Str)
	default:
		return Clean(string(raw), MaxFieldBytes)
	}
}

func coloExit(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.COLOExitEvent)
	why := map[qmp.COLOExitReason]string{
		qmp.COLOExitReasonNone:       "no failover took place",
		qmp.COLOExitReasonRequest:    "at an external request",
		qmp.COLOExitReasonError:      "after an internal error",
		qmp.COLOExitReasonProcessing: "a failover is in progress",
	}[e.Reason]
	if why == "" {
		why = s(string(e.Reason))
	}
	return detail{
		note:   fmt.Sprintf("COLO replication ended on the %s side: %s", s(string(e.Mode)), why),
		series: s(string(e.Mode)) + "/" + s(string(e.Reason)),
	}
}

func dumpCompleted(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.DumpCompletedEvent)
	r := e.Result
	note := fmt.Sprintf("Guest memory dump %s: %d of %d bytes written", s(string(r.Status)), r.Completed, r.Total)
	if e.Error != "" {
		note += ": " + s(e.Error)
	}
	return detail{note: note, series: s(string(r.Status))}
}
