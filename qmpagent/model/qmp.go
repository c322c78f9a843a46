package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// warnings are the QMP events published as Warning Events: faults.
var warnings = map[string]bool{
	qmp.EventGuestPanicked: true, qmp.EventGuestCrashloaded: true, qmp.EventWatchdog: true,
	qmp.EventBlockIOError: true, qmp.EventQuorumFailure: true, qmp.EventQuorumReportBad: true,
	qmp.EventMemoryFailure: true, qmp.EventBlockImageCorrupted: true, qmp.EventBlockJobError: true,
	qmp.EventDeviceUnplugGuestError: true,
}

// QMPResult is what one event did to the facts.
type QMPResult struct {
	Occurrence Occurrence
	// Resync asks for query-status: the event (STOP, SHUTDOWN) says the VM
	// stopped but only QEMU's RunState says exactly why.
	Resync bool
}

// ApplyQMP records ev in f and returns the Occurrence to publish. received is
// when the agent read the event; it stands in for an unknown QEMU timestamp.
func ApplyQMP(f *Facts, ev qmp.Event, received time.Time) QMPResult {
	at := received
	if t, ok := ev.Timestamp.Time(); ok {
		at = t
	}
	name := Clean(ev.Name, 64)
	f.Count(name, 1)
	if at.After(f.Monitor.LastEventTime) {
		f.Monitor.LastEventTime = at
	}
	occ := Occurrence{Time: at, Action: name, Reason: ReasonFor(name), Warning: warnings[ev.Name]}
	res := QMPResult{}

	v, err := ev.Decode()
	switch {
	case err != nil:
		occ.Note = unknownNote(name, ev.Data, err)
	default:
		h := handlers[ev.Name]
		if h == nil {
			occ.Note = "QEMU event " + name
			break
		}
		d := h(f, v, at)
		occ.Note, occ.Series, res.Resync = d.note, d.series, d.resync
	}
	occ.Note = Clean(occ.Note, MaxNoteBytes)
	occ.Series = Clean(occ.Series, MaxFieldBytes)
	res.Occurrence = occ
	return res
}

// unknownNote tells of an event this agent has no type for (a newer QEMU's,
// or one it could not decode), quoting its data so nothing is hidden.
func unknownNote(name string, data json.RawMessage, err error) string {
	if len(data) == 0 {
		return "QEMU event " + name
	}
	note := fmt.Sprintf("QEMU event %s: %s", name, Clean(string(data), 512))
	if !errors.Is(err, qmp.ErrUnknownEvent) {
		note += " (could not decode: " + Clean(err.Error(), 200) + ")"
	}
	return note
}

// detail is a handler's contribution to the Occurrence.
type detail struct {
	note   string
	series string
	resync bool
}

type handler func(f *Facts, v any, at time.Time) detail

// s bounds and cleans a string QEMU relayed from the guest or the network.
func s(v string) string { return Clean(v, MaxFieldBytes) }

func hostPort(host, port string) string { return net.JoinHostPort(s(host), s(port)) }

var handlers = map[string]handler{
	qmp.EventStop: func(f *Facts, _ any, at time.Time) detail {
		if f.RunState != vmv1.RunStatePaused {
			f.SetRunState(vmv1.RunStatePaused, string(qmp.RunStatePaused), at)
		}
		return detail{note: "VM paused", resync: true}
	},
	qmp.EventResume: func(f *Facts, _ any, at time.Time) detail {
		f.SetRunState(vmv1.RunStateRunning, string(qmp.RunStateRunning), at)
		return detail{note: "VM resumed"}
	},
	qmp.EventReset: func(f *Facts, v any, at time.Time) detail {
		e := v.(qmp.ResetEvent)
		f.LastReset = &Reset{Time: at, Guest: e.Guest, Reason: s(string(e.Reason))}
		return detail{note: fmt.Sprintf("VM reset (%s, %s)", who(e.Guest), s(string(e.Reason))), series: s(string(e.Reason))}
	},
	qmp.EventShutdown: func(f *Facts, v any, at time.Time) detail {
		e := v.(qmp.ShutdownEvent)
		state := vmv1.RunStateShutdown
		if e.Reason == "guest-panic" {
			state = vmv1.RunStateCrashed
		}
		f.SetRunState(state, string(qmp.RunStateShutdown), at)
		return detail{note: fmt.Sprintf("VM shut down (%s, %s)", who(e.Guest), s(string(e.Reason))), series: s(string(e.Reason)), resync: true}
	},
	qmp.EventPowerdown: func(*Facts, any, time.Time) detail {
		return detail{note: "ACPI power-button request sent to the guest"}
	},
	qmp.EventSuspend: func(f *Facts, _ any, at time.Time) detail {
		f.SetRunState(vmv1.RunStateSuspended, string(qmp.RunStateSuspended), at)
		return detail{note: "Guest suspended to RAM"}
	},
	qmp.EventSuspendDisk: func(f *Facts, _ any, at time.Time) detail {
		f.SetRunState(vmv1.RunStateShutdown, string(qmp.RunStateShutdown), at)
		return detail{note: "Guest suspended to disk"}
	},
	qmp.EventWakeup: func(f *Facts, _ any, at time.Time) detail {
		f.SetRunState(vmv1.RunStateRunning, string(qmp.RunStateRunning), at)
		return detail{note: "Guest woke up from suspend"}
	},
	qmp.EventGuestPVShutdown: func(*Facts, any, time.Time) detail {
		return detail{note: "Guest asked for shutdown through the pvpanic device"}
	},
	qmp.EventWatchdog: func(f *Facts, v any, at time.Time) detail {
		e := v.(qmp.WatchdogEvent)
		f.LastWatchdog = &Watchdog{Time: at, Action: s(string(e.Action))}
		return detail{note: "Watchdog expired; QEMU action: " + s(string(e.Action)), series: s(string(e.Action))}
	},
	qmp.EventGuestPanicked: func(f *Facts, v any, at time.Time) detail {
		e := v.(qmp.GuestPanickedEvent)
		info := panicInfo(e.Info)
		f.LastPanic = &Panic{Time: at, Action: s(string(e.Action)), Info: info}
		if e.Action == qmp.GuestPanicActionPause {
			f.SetRunState(vmv1.RunStatePaused, string(qmp.RunStateGuestPanicked), at)
		}
		note := "Guest panicked; QEMU action: " + s(string(e.Action))
		if info != "" {
			note += "; " + info
		}
		return detail{note: note, series: s(string(e.Action))}
	},
	qmp.EventGuestCrashloaded: func(f *Facts, v any, at time.Time) detail {
		e := v.(qmp.GuestCrashloadedEvent)
		info := panicInfo(e.Info)
		// The guest kernel died as surely as with GUEST_PANICKED (pvpanic
		// sends one or the other): the same fact, marked.
		f.LastPanic = &Panic{Time: at, Action: s(string(e.Action)), Info: info, CrashLoaded: true}
		note := "Guest panicked and loaded its crash kernel; QEMU action: " + s(string(e.Action))
		if info != "" {
			note += "; " + info
		}
		return detail{note: note}
	},
	qmp.EventMemoryFailure: func(f *Facts, v any, at time.Time) detail {
		e := v.(qmp.MemoryFailureEvent)
		mf := MemoryFailure{
			Time: at, Recipient: s(string(e.Recipient)), Action: s(string(e.Action)),
			ActionRequired: e.Flags.ActionRequired, Recursive: e.Flags.Recursive, Count: 1,
		}
		if f.LastMemoryFailure != nil {
			mf.Count += f.LastMemoryFailure.Count
		}
		f.LastMemoryFailure = &mf
		return detail{
			note:   fmt.Sprintf("Memory failure in the %s; action: %s (action required: %t, recursive: %t)", mf.Recipient, mf.Action, mf.ActionRequired, mf.Recursive),
			series: mf.Recipient + "/" + mf.Action,
		}
	},
	qmp.EventRTCChange: func(f *Facts, v any, _ time.Time) detail {
		e := v.(qmp.RTCChangeEvent)
		off := e.Offset
		f.RTCOffsetSeconds = &off
		return detail{note: fmt.Sprintf("Guest set its real-time clock to host UTC %+d s", off)}
	},
	qmp.EventBlockIOError:           blockIOError,
	qmp.EventBlockImageCorrupted:    blockImageCorrupted,
	qmp.EventBlockJobCompleted:      blockJob("completed"),
	qmp.EventBlockJobCancelled:      blockJob("cancelled"),
	qmp.EventBlockJobReady:          blockJob("ready to complete"),
	qmp.EventBlockJobError:          blockJobError,
	qmp.EventBlockJobPending:        blockJobPending,
	qmp.EventBlockWriteThreshold:    blockWriteThreshold,
	qmp.EventQuorumFailure:          quorumFailure,
	qmp.EventQuorumReportBad:        quorumReportBad,
	qmp.EventDeviceTrayMoved:        deviceTrayMoved,
	qmp.EventJobStatusChange:        jobStatusChange,
	qmp.EventVNCConnected:           vncConnected,
	qmp.EventVNCInitialized:         vncInitialized,
	qmp.EventVNCDisconnected:        vncDisconnected,
	qmp.EventSpiceConnected:         spiceConnected,
	qmp.EventSpiceInitialized:       spiceInitialized,
	qmp.EventSpiceDisconnected:      spiceDisconnected,
	qmp.EventBalloonChange:          balloonChange,
	qmp.EventACPIDeviceOST:          acpiDeviceOST,
	qmp.EventDeviceDeleted:          deviceDeleted,
	qmp.EventDeviceUnplugGuestError: deviceUnplugGuestError,
	qmp.EventNICRxFilterChanged:     nicRxFilterChanged,
	qmp.EventVSERPortChange:         vserportChange,
	qmp.EventMigration:              migration,
	qmp.EventMigrationPass:          migrationPass,

	// Events that change no fact, told with their data (qmp_other.go).
	qmp.EventBlockExportDeleted:     blockExportDeleted,
	qmp.EventPRManagerStatusChanged: prManagerStatusChanged,
	qmp.EventSpiceMigrateCompleted:  spiceMigrateCompleted,
	qmp.EventMemoryDeviceSizeChange: memoryDeviceSizeChange,
	qmp.EventFailoverNegotiated:     failoverNegotiated,
	qmp.EventUnplugPrimary:          unplugPrimary,
	qmp.EventNetdevStreamConnected:  netdevStreamConnected,
	qmp.EventNetdevStreamDisconn:    netdevStreamDisconnected,
	qmp.EventCOLOExit:               coloExit,
	qmp.EventDumpCompleted:          dumpCompleted,
}

func who(guest bool) string {
	if guest {
		return "guest-initiated"
	}
	return "host-initiated"
}

// panicInfo puts QEMU's optional guest panic information into words.
func panicInfo(p *qmp.GuestPanicInformation) string {
	switch {
	case p == nil:
		return ""
	case p.HyperV != nil:
		h := p.HyperV
		return fmt.Sprintf("Hyper-V crash parameters %#x %#x %#x %#x %#x", h.Arg1, h.Arg2, h.Arg3, h.Arg4, h.Arg5)
	case p.S390 != nil:
		z := p.S390
		return fmt.Sprintf("s390 core %d, PSW mask %#x, PSW address %#x, reason %s", z.Core, z.PSWMask, z.PSWAddr, s(string(z.Reason)))
	case p.TDX != nil:
		t := p.TDX
		return fmt.Sprintf("TDX error code %#x: %s", t.ErrorCode, s(t.Message))
	case p.SEV != nil:
		return fmt.Sprintf("SEV termination set %d, code %d", p.SEV.Set, p.SEV.Code)
	default:
		return "panic information of type " + s(string(p.Type))
	}
}

// QMPMetricName is the event name to use as a metric label: the name itself for
// the events this agent knows, "other" for the rest, so that a peer cannot
// create label values without bound.
func QMPMetricName(name string) string {
	if _, ok := handlers[name]; ok {
		return name
	}
	return "other"
}
