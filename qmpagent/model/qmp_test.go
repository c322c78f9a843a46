package model

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// event parses one QMP event line as QEMU writes it.
func event(t *testing.T, line string) qmp.Event {
	t.Helper()
	var m struct {
		Event     string          `json:"event"`
		Data      json.RawMessage `json:"data"`
		Timestamp qmp.Timestamp   `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("bad test line %s: %v", line, err)
	}
	return qmp.Event{Name: m.Event, Data: m.Data, Timestamp: m.Timestamp}
}

const ts = `"timestamp": {"seconds": 1700000000, "microseconds": 250000}`

var at = time.Unix(1700000000, 250000*1000)

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		line    string
		reason  string
		warning bool
		note    string
		series  string
		resync  bool
		check   func(t *testing.T, f Facts)
	}{
		{line: `{"event": "STOP", ` + ts + `}`, reason: "Stop", note: "VM paused", resync: true,
			check: runState(vmv1.RunStatePaused, "paused")},
		{line: `{"event": "RESUME", ` + ts + `}`, reason: "Resume", note: "VM resumed",
			check: runState(vmv1.RunStateRunning, "running")},
		{line: `{"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}, ` + ts + `}`, reason: "Reset",
			note: "VM reset (host-initiated, host-qmp-system-reset)", series: "host-qmp-system-reset",
			check: func(t *testing.T, f Facts) {
				if f.LastReset == nil || !f.LastReset.Time.Equal(at) || f.LastReset.Guest || f.LastReset.Reason != "host-qmp-system-reset" {
					t.Errorf("LastReset = %+v", f.LastReset)
				}
			}},
		{line: `{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}, ` + ts + `}`, reason: "Shutdown",
			note: "VM shut down (guest-initiated, guest-shutdown)", series: "guest-shutdown", resync: true,
			check: runState(vmv1.RunStateShutdown, "shutdown")},
		{line: `{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-panic"}, ` + ts + `}`, reason: "Shutdown",
			note: "VM shut down (guest-initiated, guest-panic)", series: "guest-panic", resync: true,
			check: runState(vmv1.RunStateCrashed, "shutdown")},
		{line: `{"event": "POWERDOWN", ` + ts + `}`, reason: "Powerdown", note: "ACPI power-button request sent to the guest"},
		{line: `{"event": "GUEST_PANICKED", "data": {"action": "pause"}, ` + ts + `}`, reason: "GuestPanicked", warning: true,
			note: "Guest panicked; QEMU action: pause", series: "pause",
			check: func(t *testing.T, f Facts) {
				runState(vmv1.RunStatePaused, "guest-panicked")(t, f)
				if f.LastPanic == nil || f.LastPanic.Action != "pause" || !f.LastPanic.Time.Equal(at) {
					t.Errorf("LastPanic = %+v", f.LastPanic)
				}
			}},
		{line: `{"event": "GUEST_PANICKED", "data": {"action": "run", "info": {"type": "hyper-v", "arg1": 1, "arg2": 2, "arg3": 3, "arg4": 4, "arg5": 5}}, ` + ts + `}`,
			reason: "GuestPanicked", warning: true, series: "run",
			note: "Guest panicked; QEMU action: run; Hyper-V crash parameters 0x1 0x2 0x3 0x4 0x5",
			check: func(t *testing.T, f Facts) {
				if f.LastPanic == nil || f.LastPanic.Info != "Hyper-V crash parameters 0x1 0x2 0x3 0x4 0x5" {
					t.Errorf("LastPanic = %+v", f.LastPanic)
				}
			}},
		{line: `{"event": "GUEST_CRASHLOADED", "data": {"action": "run"}, ` + ts + `}`, reason: "GuestCrashloaded", warning: true,
			note: "Guest panicked and loaded its crash kernel; QEMU action: run"},
		{line: `{"event": "WATCHDOG", "data": {"action": "inject-nmi"}, ` + ts + `}`, reason: "Watchdog", warning: true,
			note: "Watchdog expired; QEMU action: inject-nmi", series: "inject-nmi",
			check: func(t *testing.T, f Facts) {
				if f.LastWatchdog == nil || f.LastWatchdog.Action != "inject-nmi" {
					t.Errorf("LastWatchdog = %+v", f.LastWatchdog)
				}
			}},
		{line: `{"event": "RTC_CHANGE", "data": {"offset": -3600, "qom-path": "/machine/unattached/device[8]"}, ` + ts + `}`, reason: "RTCChange",
			note: "Guest set its real-time clock to host UTC -3600 s",
			check: func(t *testing.T, f Facts) {
				if f.RTCOffsetSeconds == nil || *f.RTCOffsetSeconds != -3600 {
					t.Errorf("RTCOffsetSeconds = %v", f.RTCOffsetSeconds)
				}
			}},
		{line: `{"event": "BLOCK_IO_ERROR", "data": {"device": "disk0", "node-name": "#block123", "operation": "read", "action": "stop", "reason": "Input/output error"}, ` + ts + `}`,
			reason: "BlockIOError", warning: true, note: "Read error on disk0: Input/output error; VM stopped", series: "disk0/read/stop",
			check: func(t *testing.T, f Facts) {
				runState(vmv1.RunStatePaused, "io-error")(t, f)
				be := f.BlockErrors["disk0"]
				if be.Count != 1 || be.Operation != "read" || be.Action != "stop" || be.Reason != "Input/output error" || !be.LastTime.Equal(at) {
					t.Errorf("BlockErrors = %+v", f.BlockErrors)
				}
			}},
		{line: `{"event": "BLOCK_IO_ERROR", "data": {"device": "", "node-name": "data", "operation": "write", "action": "report", "nospace": true, "reason": "No space left on device"}, ` + ts + `}`,
			reason: "BlockIOError", warning: true, note: "Write error on data: No space left on device; error reported to the guest (no space left)", series: "data/write/report",
			check: func(t *testing.T, f Facts) {
				if be := f.BlockErrors["data"]; !be.NoSpace {
					t.Errorf("BlockErrors = %+v", f.BlockErrors)
				}
			}},
		{line: `{"event": "VNC_CONNECTED", "data": {"server": {"auth": "none", "family": "ipv4", "service": "5901", "host": "127.0.0.1", "websocket": false}, "client": {"family": "ipv4", "service": "43120", "host": "127.0.0.1", "websocket": false}}, ` + ts + `}`,
			reason: "VNCConnected", note: "VNC client 127.0.0.1:43120 connected", series: "127.0.0.1:43120",
			check: func(t *testing.T, f Facts) {
				d := f.Display["vnc/127.0.0.1:43120"]
				if d.Client != "127.0.0.1:43120" || d.Auth != "none" || !d.Since.Equal(at) {
					t.Errorf("Display = %+v", f.Display)
				}
			}},
		{line: `{"event": "VNC_INITIALIZED", "data": {"server": {"auth": "vnc+sasl", "family": "ipv6", "service": "5901", "host": "::1", "websocket": false}, "client": {"family": "ipv6", "service": "5555", "host": "::1", "websocket": false, "sasl_username": "alice"}}, ` + ts + `}`,
			reason: "VNCInitialized", note: "VNC client [::1]:5555 authenticated (vnc+sasl) as alice", series: "[::1]:5555",
			check: func(t *testing.T, f Facts) {
				if d := f.Display["vnc/[::1]:5555"]; d.Username != "alice" {
					t.Errorf("Display = %+v", f.Display)
				}
			}},
		{line: `{"event": "VNC_DISCONNECTED", "data": {"server": {"auth": "none", "family": "ipv4", "service": "5901", "host": "127.0.0.1", "websocket": false}, "client": {"family": "ipv4", "service": "43120", "host": "127.0.0.1", "websocket": false}}, ` + ts + `}`,
			reason: "VNCDisconnected", note: "VNC client 127.0.0.1:43120 disconnected", series: "127.0.0.1:43120",
			check: func(t *testing.T, f Facts) {
				if len(f.Display) != 0 {
					t.Errorf("Display = %+v", f.Display)
				}
			}},
		// Recorded from QEMU's documentation: SPICE, balloon, ACPI and quorum
		// events need guests or clients this machine does not have.
		{line: `{"event": "SPICE_CONNECTED", "data": {"server": {"port": "5920", "family": "ipv4", "host": "127.0.0.1"}, "client": {"port": "52873", "family": "ipv4", "host": "127.0.0.1"}}, ` + ts + `}`,
			reason: "SPICEConnected", note: "SPICE client 127.0.0.1:52873 connected", series: "127.0.0.1:52873",
			check: func(t *testing.T, f Facts) {
				if len(f.Display) != 0 {
					t.Errorf("a SPICE channel not initialized yet made a session: %+v", f.Display)
				}
			}},
		{line: `{"event": "SPICE_INITIALIZED", "data": {"server": {"auth": "spice", "port": "5921", "family": "ipv4", "host": "127.0.0.1"}, "client": {"port": "49004", "family": "ipv4", "channel-type": 3, "connection-id": 1804289383, "host": "127.0.0.1", "channel-id": 0, "tls": true}}, ` + ts + `}`,
			reason: "SPICEInitialized", note: "SPICE client 127.0.0.1:49004 opened channel inputs (3/0) of session 1804289383 over TLS", series: "1804289383/3/0",
			check: func(t *testing.T, f Facts) {
				d := f.Display["spice/connection/1804289383"]
				if len(f.Display) != 1 || d.Client != "127.0.0.1:49004" || d.Auth != "spice" || !d.Since.Equal(at) {
					t.Errorf("Display = %+v", f.Display)
				}
			}},
		{line: `{"event": "SPICE_DISCONNECTED", "data": {"server": {"port": "5920", "family": "ipv4", "host": "127.0.0.1"}, "client": {"port": "52873", "family": "ipv4", "host": "127.0.0.1"}}, ` + ts + `}`,
			reason: "SPICEDisconnected", note: "SPICE client 127.0.0.1:52873 disconnected", series: "127.0.0.1:52873"},
		{line: `{"event": "SPICE_MIGRATE_COMPLETED", ` + ts + `}`, reason: "SPICEMigrateCompleted", note: "SPICE clients moved to the migration target"},
		{line: `{"event": "BALLOON_CHANGE", "data": {"actual": 944766976}, ` + ts + `}`, reason: "BalloonChange",
			note: "Guest memory balloon now 901 MiB (944766976 bytes)",
			check: func(t *testing.T, f Facts) {
				if f.BalloonActualBytes == nil || *f.BalloonActualBytes != 944766976 {
					t.Errorf("BalloonActualBytes = %v", f.BalloonActualBytes)
				}
			}},
		{line: `{"event": "ACPI_DEVICE_OST", "data": {"info": {"device": "d1", "slot": "0", "slot-type": "DIMM", "source": 1, "status": 0}}, ` + ts + `}`,
			reason: "ACPIDeviceOST", note: "Guest ACPI _OST for d1 (DIMM slot 0): source 0x1, status 0x0", series: "d1/0/1/0"},
		// The seeds' catalogue form: flat, no "info" wrapper.
		{line: `{"event": "ACPI_DEVICE_OST", "data": {"device": "d1", "slot": "0", "slot-type": "DIMM", "source": 1, "status": 0}, ` + ts + `}`,
			reason: "ACPIDeviceOST", note: "Guest ACPI _OST for d1 (DIMM slot 0): source 0x1, status 0x0", series: "d1/0/1/0"},
		{line: `{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 345435, "sectors-count": 5}, ` + ts + `}`,
			reason: "QuorumFailure", warning: true, note: "Quorum usr1 lost: no majority for sectors 345435-345439", series: "usr1"},
		// The seeds' catalogue spelling, "sector-count".
		{line: `{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 345435, "sector-count": 5}, ` + ts + `}`,
			reason: "QuorumFailure", warning: true, note: "Quorum usr1 lost: no majority for sectors 345435-345439", series: "usr1"},
		{line: `{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 345435, "sectors-count": 1}, ` + ts + `}`,
			reason: "QuorumFailure", warning: true, note: "Quorum usr1 lost: no majority for sector 345435", series: "usr1"},
		{line: `{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 345435}, ` + ts + `}`,
			reason: "QuorumFailure", warning: true, note: "Quorum usr1 lost: no majority for sectors from 345435", series: "usr1"},
		{line: `{"event": "QUORUM_REPORT_BAD", "data": {"node-name": "node0", "sector-num": 345435, "sectors-count": 5, "type": "read"}, ` + ts + `}`,
			reason: "QuorumReportBad", warning: true, note: "Quorum child node0: bad read of sectors 345435-345439", series: "node0/read"},
		{line: `{"event": "QUORUM_REPORT_BAD", "data": {"node-name": "1.raw", "sector-num": 345435, "sector-count": 5}, ` + ts + `}`,
			reason: "QuorumReportBad", warning: true, note: "Quorum child 1.raw: bad read of sectors 345435-345439", series: "1.raw/read"},
		{line: `{"event": "MEMORY_FAILURE", "data": {"recipient": "guest", "action": "inject", "flags": {"action-required": false, "recursive": false}}, ` + ts + `}`,
			reason: "MemoryFailure", warning: true, note: "Memory failure in the guest; action: inject (action required: false, recursive: false)", series: "guest/inject"},
		{line: `{"event": "SUSPEND", ` + ts + `}`, reason: "Suspend", note: "Guest suspended to RAM", check: runState(vmv1.RunStateSuspended, "suspended")},
		{line: `{"event": "WAKEUP", ` + ts + `}`, reason: "Wakeup", note: "Guest woke up from suspend", check: runState(vmv1.RunStateRunning, "running")},
		{line: `{"event": "DEVICE_DELETED", "data": {"device": "virtio-net-pci-0", "path": "/machine/peripheral/virtio-net-pci-0"}, ` + ts + `}`,
			reason: "DeviceDeleted", note: "Device virtio-net-pci-0 removed (/machine/peripheral/virtio-net-pci-0)", series: "virtio-net-pci-0"},
		{line: `{"event": "JOB_STATUS_CHANGE", "data": {"id": "job1", "status": "ready"}, ` + ts + `}`,
			reason: "JobStatusChange", note: "Job job1 is now ready", series: "job1/ready"},
		{line: `{"event": "NIC_RX_FILTER_CHANGED", "data": {"name": "vnet0", "path": "/machine/peripheral/vnet0/virtio-backend"}, ` + ts + `}`,
			reason: "NICRXFilterChanged", note: "Guest changed the receive filter of NIC vnet0", series: "vnet0"},
		{line: `{"event": "VSERPORT_CHANGE", "data": {"id": "channel0", "open": true}, ` + ts + `}`,
			reason: "VserportChange", note: "Guest opened virtio serial port channel0", series: "channel0/opened"},
		{line: `{"event": "MIGRATION", "data": {"status": "completed"}, ` + ts + `}`, reason: "Migration", note: "Migration completed", series: "completed"},
		{line: `{"event": "BLOCK_JOB_COMPLETED", "data": {"type": "stream", "device": "virtio-disk0", "len": 10737418240, "offset": 10737418240, "speed": 0}, ` + ts + `}`,
			reason: "BlockJobCompleted", note: "Block job virtio-disk0 (stream) completed", series: "virtio-disk0"},
		{line: `{"event": "BLOCK_JOB_ERROR", "data": {"device": "ide0-hd1", "operation": "write", "action": "stop"}, ` + ts + `}`,
			reason: "BlockJobError", warning: true, note: "Block job ide0-hd1: write error; action: stop", series: "ide0-hd1/write"},
		{line: `{"event": "DEVICE_TRAY_MOVED", "data": {"device": "ide1-cd0", "id": "ide0-1-0", "tray-open": true}, ` + ts + `}`,
			reason: "DeviceTrayMoved", note: "Tray of ide0-1-0 opened", series: "ide0-1-0/opened"},
		// The events that change no fact, from QEMU's QAPI documentation.
		{line: `{"event": "BLOCK_EXPORT_DELETED", "data": {"id": "export0"}, ` + ts + `}`,
			reason: "BlockExportDeleted", note: "Block export export0 deleted", series: "export0"},
		{line: `{"event": "PR_MANAGER_STATUS_CHANGED", "data": {"id": "pr-helper0", "connected": false}, ` + ts + `}`,
			reason: "PrManagerStatusChanged", note: "Persistent reservation manager pr-helper0 disconnected", series: "pr-helper0/disconnected"},
		{line: `{"event": "MEMORY_DEVICE_SIZE_CHANGE", "data": {"id": "vm0", "size": 1073741824, "qom-path": "/machine/unattached/device[2]"}, ` + ts + `}`,
			reason: "MemoryDeviceSizeChange", note: "Memory device vm0 (/machine/unattached/device[2]) now 1024 MiB (1073741824 bytes)", series: "vm0"},
		{line: `{"event": "FAILOVER_NEGOTIATED", "data": {"device-id": "net1"}, ` + ts + `}`,
			reason: "FailoverNegotiated", note: "Guest accepted failover for virtio-net device net1", series: "net1"},
		{line: `{"event": "UNPLUG_PRIMARY", "data": {"device-id": "hostdev0"}, ` + ts + `}`,
			reason: "UnplugPrimary", note: "Primary device hostdev0 of a failover pair unplugged for migration", series: "hostdev0"},
		{line: `{"event": "NETDEV_STREAM_CONNECTED", "data": {"netdev-id": "netdev0", "addr": {"port": "47666", "ipv6": true, "host": "::1", "type": "inet"}}, ` + ts + `}`,
			reason: "NetdevStreamConnected", note: "Network backend netdev0 connected to [::1]:47666", series: "netdev0/connected"},
		{line: `{"event": "NETDEV_STREAM_CONNECTED", "data": {"netdev-id": "netdev0", "addr": {"path": "/tmp/qemu0", "type": "unix"}}, ` + ts + `}`,
			reason: "NetdevStreamConnected", note: "Network backend netdev0 connected to unix socket /tmp/qemu0", series: "netdev0/connected"},
		{line: `{"event": "NETDEV_STREAM_DISCONNECTED", "data": {"netdev-id": "netdev0"}, ` + ts + `}`,
			reason: "NetdevStreamDisconnected", note: "Network backend netdev0 disconnected", series: "netdev0/disconnected"},
		{line: `{"event": "COLO_EXIT", "data": {"mode": "primary", "reason": "request"}, ` + ts + `}`,
			reason: "COLOExit", note: "COLO replication ended on the primary side: at an external request", series: "primary/request"},
		{line: `{"event": "DUMP_COMPLETED", "data": {"result": {"total": 1090650112, "status": "completed", "completed": 1090650112}}, ` + ts + `}`,
			reason: "DumpCompleted", note: "Guest memory dump completed: 1090650112 of 1090650112 bytes written", series: "completed"},
		{line: `{"event": "DUMP_COMPLETED", "data": {"result": {"total": 100, "status": "failed", "completed": 4}, "error": "No space\u001b[2J left"}, ` + ts + `}`,
			reason: "DumpCompleted", note: "Guest memory dump failed: 4 of 100 bytes written: No space?[2J left", series: "failed"},
		{line: `{"event": "SOME_FUTURE_EVENT", "data": {"x": "\u001b[31m"}, ` + ts + `}`,
			reason: "SomeFutureEvent", note: `QEMU event SOME_FUTURE_EVENT: {"x": "\u001b[31m"}`},
	} {
		ev := event(t, tc.line)
		t.Run(ev.Name, func(t *testing.T) {
			var f Facts
			res := ApplyQMP(&f, ev, time.Now())
			o := res.Occurrence
			if o.Reason != tc.reason || o.Warning != tc.warning || o.Note != tc.note || o.Series != tc.series || o.Action != ev.Name || res.Resync != tc.resync {
				t.Errorf("ApplyQMP(%s) =\n  reason %q warning %t note %q series %q resync %t\nwant\n  reason %q warning %t note %q series %q resync %t",
					ev.Name, o.Reason, o.Warning, o.Note, o.Series, res.Resync, tc.reason, tc.warning, tc.note, tc.series, tc.resync)
			}
			if !o.Time.Equal(at) {
				t.Errorf("time %v, want QEMU's %v", o.Time, at)
			}
			if f.EventCounts[ev.Name] != 1 {
				t.Errorf("EventCounts = %v", f.EventCounts)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func runState(state vmv1.RunState, reason string) func(t *testing.T, f Facts) {
	return func(t *testing.T, f Facts) {
		t.Helper()
		if f.RunState != state || f.RunStateReason != reason || !f.RunStateSince.Equal(at) {
			t.Errorf("run state %q/%q since %v, want %q/%q since %v", f.RunState, f.RunStateReason, f.RunStateSince, state, reason, at)
		}
	}
}

func TestApplyUnknownTimestampUsesReceiptTime(t *testing.T) {
	var f Facts
	received := time.Unix(1800000000, 0)
	res := ApplyQMP(&f, event(t, `{"event": "STOP", "timestamp": {"seconds": -1, "microseconds": -1}}`), received)
	if !res.Occurrence.Time.Equal(received) {
		t.Errorf("time %v, want the receipt time %v", res.Occurrence.Time, received)
	}
}

func TestApplyBoundsHostileStrings(t *testing.T) {
	var f Facts
	dev := strings.Repeat("\x07disk", 1000)
	data, _ := json.Marshal(map[string]any{"device": dev, "operation": "read", "action": "report", "reason": strings.Repeat("é", 2000)})
	res := ApplyQMP(&f, qmp.Event{Name: "BLOCK_IO_ERROR", Data: data, Timestamp: qmp.Timestamp{Seconds: 1, Microseconds: 0}}, time.Now())
	o := res.Occurrence
	if len(o.Note) > MaxNoteBytes || len(o.Series) > MaxFieldBytes || strings.ContainsRune(o.Note, '\x07') {
		t.Errorf("unbounded or unclean: note %d bytes, series %d bytes", len(o.Note), len(o.Series))
	}
	for k := range f.BlockErrors {
		if len(k) > MaxFieldBytes {
			t.Errorf("device key of %d bytes", len(k))
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add("BLOCK_IO_ERROR", []byte(`{"device":"d","operation":"read","action":"stop","reason":"x"}`))
	f.Add("GUEST_PANICKED", []byte(`{"action":"pause","info":{"type":"s390","core":1}}`))
	f.Add("VNC_CONNECTED", []byte(`{"server":{},"client":{"host":"::1","service":"1"}}`))
	f.Add("RESET", []byte(`null`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		var facts Facts
		res := ApplyQMP(&facts, qmp.Event{Name: name, Data: data, Timestamp: qmp.Timestamp{Seconds: 5}}, time.Now())
		if len(res.Occurrence.Note) > MaxNoteBytes {
			t.Fatalf("note of %d bytes", len(res.Occurrence.Note))
		}
	})
}

// Every event the client has a type for is told with its data, not only
// its name.
func TestEveryTypedEventHasAHandler(t *testing.T) {
	for _, name := range qmp.KnownEvents() {
		if handlers[name] == nil {
			t.Errorf("%s has a type in package qmp but no handler: its Event would say only its name", name)
		}
	}
}

// spiceChannel is a SPICE_INITIALIZED or SPICE_DISCONNECTED line of one
// channel of connection 1804289383 from 127.0.0.1.
func spiceChannel(t *testing.T, event, port string, typ int) qmp.Event {
	client := `{"port": "` + port + `", "family": "ipv4", "host": "127.0.0.1"}`
	if event == "SPICE_INITIALIZED" {
		client = fmt.Sprintf(`{"port": "%s", "family": "ipv4", "channel-type": %d, "connection-id": 1804289383, "host": "127.0.0.1", "channel-id": 0, "tls": false}`, port, typ)
	}
	return event2(t, event, `{"server": {"auth": "spice", "port": "5920", "family": "ipv4", "host": "127.0.0.1"}, "client": `+client+`}`)
}

func event2(t *testing.T, name, data string) qmp.Event {
	return event(t, `{"event": "`+name+`", "data": `+data+`, `+ts+`}`)
}

// One SPICE client opens a channel per TCP connection: it is one display
// session until its last channel closes.
func TestSpiceSessionIsTheConnectionNotTheChannel(t *testing.T) {
	var f Facts
	for _, c := range []struct {
		port string
		typ  int
	}{{"40000", 1}, {"40001", 2}, {"40002", 3}, {"40003", 4}} {
		ApplyQMP(&f, spiceChannel(t, "SPICE_CONNECTED", c.port, 0), at)
		ApplyQMP(&f, spiceChannel(t, "SPICE_INITIALIZED", c.port, c.typ), at)
	}
	sessions := f.DisplaySessions()
	if len(sessions) != 1 {
		t.Fatalf("%d display sessions for one SPICE client with 4 channels: %+v", len(sessions), sessions)
	}
	d := sessions[0]
	if d.Client != "127.0.0.1:40000" || d.Connection != "1804289383" || len(d.Channels) != 4 || !d.Since.Equal(at) {
		t.Errorf("session = %+v", d)
	}

	res := ApplyQMP(&f, spiceChannel(t, "SPICE_DISCONNECTED", "40000", 0), at)
	if n := len(f.Display); n != 1 || res.Occurrence.Note != "SPICE client 127.0.0.1:40000 closed a channel of session 1804289383 (3 open)" {
		t.Errorf("after the main channel closed: %d sessions, note %q", n, res.Occurrence.Note)
	}
	for _, port := range []string{"40001", "40002"} {
		ApplyQMP(&f, spiceChannel(t, "SPICE_DISCONNECTED", port, 0), at)
	}
	res = ApplyQMP(&f, spiceChannel(t, "SPICE_DISCONNECTED", "40003", 0), at)
	if len(f.Display) != 0 || res.Occurrence.Note != "SPICE client 127.0.0.1:40003 disconnected" {
		t.Errorf("after the last channel closed: sessions %+v, note %q", f.Display, res.Occurrence.Note)
	}
}

// spiceMonitor answers query-spice with QEMU's reply; the other queries
// say the QEMU has none of that. No SPICE client runs on the test
// machine, so QEMU cannot list channels here.
type spiceMonitor struct{ spice qmp.SpiceInfo }

func (m spiceMonitor) Greeting() qmp.Greeting { return qmp.Greeting{} }
func (m spiceMonitor) QueryStatus(context.Context) (qmp.StatusInfo, error) {
	return qmp.StatusInfo{Status: qmp.RunStateRunning, Running: true}, nil
}
func (m spiceMonitor) QueryName(context.Context) (string, error) { return "", nil }
func (m spiceMonitor) QueryUUID(context.Context) (string, error) { return "", nil }
func (m spiceMonitor) QueryVNC(context.Context) (qmp.VNCInfo, error) {
	return qmp.VNCInfo{}, &qmp.Error{Class: "CommandNotFound"}
}
func (m spiceMonitor) QuerySPICE(context.Context) (qmp.SpiceInfo, error)   { return m.spice, nil }
func (m spiceMonitor) QueryBlock(context.Context) ([]qmp.BlockInfo, error) { return nil, nil }
func (m spiceMonitor) QueryBalloon(context.Context) (qmp.BalloonInfo, error) {
	return qmp.BalloonInfo{}, &qmp.Error{Class: "DeviceNotActive"}
}

// query-spice lists channels; the re-sync makes one session per
// connection-id of them, keeping the time of a session known before
// (also one read back from status, which has no connection-id).
func TestSyncSpiceSessionsPerConnection(t *testing.T) {
	// Two clients: one with three channels, one with its main channel only
	// (the shape of QEMU's query-spice reply in qapi/ui.json).
	var info qmp.SpiceInfo
	reply := `{"enabled": true, "migrated": false, "host": "0.0.0.0", "port": 5920, "auth": "spice", "mouse-mode": "client", "channels": [
		{"port": "40000", "family": "ipv4", "channel-type": 1, "connection-id": 1804289383, "host": "127.0.0.1", "channel-id": 0, "tls": false},
		{"port": "40001", "family": "ipv4", "channel-type": 2, "connection-id": 1804289383, "host": "127.0.0.1", "channel-id": 0, "tls": false},
		{"port": "40002", "family": "ipv4", "channel-type": 3, "connection-id": 1804289383, "host": "127.0.0.1", "channel-id": 0, "tls": false},
		{"port": "51000", "family": "ipv4", "channel-type": 1, "connection-id": 846930886, "host": "10.0.0.2", "channel-id": 0, "tls": true}]}`
	if err := json.Unmarshal([]byte(reply), &info); err != nil {
		t.Fatal(err)
	}
	restored := DisplaySession{Protocol: "spice", Client: "127.0.0.1:40000", Since: at}
	f := Facts{Display: map[string]DisplaySession{restored.Key(): restored}}
	now := at.Add(time.Hour)
	if err := SyncQMP(context.Background(), spiceMonitor{info}, &f, now); err != nil {
		t.Fatal(err)
	}
	got := f.DisplaySessions()
	if len(got) != 2 {
		t.Fatalf("%d sessions for two SPICE clients: %+v", len(got), got)
	}
	byClient := map[string]DisplaySession{}
	for _, d := range got {
		byClient[d.Client] = d
	}
	if d := byClient["127.0.0.1:40000"]; d.Connection != "1804289383" || len(d.Channels) != 3 || !d.Since.Equal(at) || d.Auth != "spice" {
		t.Errorf("known client's session = %+v (want its old time %v kept)", d, at)
	}
	if d := byClient["10.0.0.2:51000"]; d.Connection != "846930886" || len(d.Channels) != 1 || !d.Since.Equal(now) {
		t.Errorf("new client's session = %+v", d)
	}
}
