package model

import (
	"encoding/json"
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
			reason: "SPICEConnected", note: "SPICE client 127.0.0.1:52873 connected", series: "127.0.0.1:52873"},
		{line: `{"event": "SPICE_INITIALIZED", "data": {"server": {"auth": "spice", "port": "5921", "family": "ipv4", "host": "127.0.0.1"}, "client": {"port": "49004", "family": "ipv4", "channel-type": 3, "connection-id": 1804289383, "host": "127.0.0.1", "channel-id": 0, "tls": true}}, ` + ts + `}`,
			reason: "SPICEInitialized", note: "SPICE client 127.0.0.1:49004 opened channel 3/0 over TLS", series: "127.0.0.1:49004/3/0"},
		{line: `{"event": "SPICE_DISCONNECTED", "data": {"server": {"port": "5920", "family": "ipv4", "host": "127.0.0.1"}, "client": {"port": "52873", "family": "ipv4", "host": "127.0.0.1"}}, ` + ts + `}`,
			reason: "SPICEDisconnected", note: "SPICE client 127.0.0.1:52873 disconnected", series: "127.0.0.1:52873"},
		{line: `{"event": "SPICE_MIGRATE_COMPLETED", ` + ts + `}`, reason: "SPICEMigrateCompleted", note: "QEMU event SPICE_MIGRATE_COMPLETED"},
		{line: `{"event": "BALLOON_CHANGE", "data": {"actual": 944766976}, ` + ts + `}`, reason: "BalloonChange",
			note: "Guest memory balloon now 901 MiB (944766976 bytes)",
			check: func(t *testing.T, f Facts) {
				if f.BalloonActualBytes == nil || *f.BalloonActualBytes != 944766976 {
					t.Errorf("BalloonActualBytes = %v", f.BalloonActualBytes)
				}
			}},
		{line: `{"event": "ACPI_DEVICE_OST", "data": {"info": {"device": "d1", "slot": "0", "slot-type": "DIMM", "source": 1, "status": 0}}, ` + ts + `}`,
			reason: "ACPIDeviceOST", note: "Guest ACPI _OST for d1 (DIMM slot 0): source 0x1, status 0x0", series: "d1/0/1/0"},
		{line: `{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 345435, "sectors-count": 5}, ` + ts + `}`,
			reason: "QuorumFailure", warning: true, note: "Quorum usr1 lost: no majority for sectors 345435-345439", series: "usr1"},
		{line: `{"event": "QUORUM_REPORT_BAD", "data": {"node-name": "node0", "sector-num": 345435, "sectors-count": 5, "type": "read"}, ` + ts + `}`,
			reason: "QuorumReportBad", warning: true, note: "Quorum child node0: bad read of sectors 345435-345439", series: "node0/read"},
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
