package qmp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
)

// These tests run real QEMU (see package qemutest). They are skipped with
// -short and fail, saying what to install, when QEMU is missing.

// qemuTimeout bounds each wait on real QEMU. Generous because CI machines
// are shared; it is a hang guard, not a measurement.
const qemuTimeout = 90 * time.Second

func qemuContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout)
	t.Cleanup(cancel)
	return ctx
}

func dialQEMU(t *testing.T, path string) *qmp.Conn {
	t.Helper()
	c, err := qmp.Dial(qemuContext(t), path, qmp.Options{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitEvent reads events until one named name arrives and returns it
// decoded. Events of other names are skipped (and logged).
func waitEvent[T any](t *testing.T, c *qmp.Conn, in *qemutest.Instance, name string) (T, qmp.Event) {
	t.Helper()
	var zero T
	timeout := time.After(qemuTimeout)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events ended waiting for %s: %v\nQEMU: %s", name, c.Err(), in.Stderr())
			}
			if ev.Gap != nil {
				t.Fatalf("unexpected gap waiting for %s: %v", name, ev.Gap.Lost)
			}
			if ev.Name != name {
				t.Logf("(skipping %s %s)", ev.Name, ev.Data)
				continue
			}
			if !ev.Timestamp.Known() {
				t.Errorf("%s has an unknown timestamp", name)
			}
			v, err := ev.Decode()
			if err != nil {
				t.Fatalf("decoding %s %s: %v", name, ev.Data, err)
			}
			typed, ok := v.(T)
			if !ok {
				t.Fatalf("%s decoded to %T, want %T", name, v, zero)
			}
			return typed, ev
		case <-timeout:
			t.Fatalf("no %s within %v\nQEMU: %s", name, qemuTimeout, in.Stderr())
		}
	}
}

func execute(t *testing.T, c *qmp.Conn, command string, args any) {
	t.Helper()
	if err := c.Execute(qemuContext(t), command, args, nil); err != nil {
		t.Fatalf("%s: %v", command, err)
	}
}

func checkStatus(t *testing.T, c *qmp.Conn, want qmp.RunState, running bool) {
	t.Helper()
	st, err := c.QueryStatus(qemuContext(t))
	if err != nil {
		t.Fatalf("QueryStatus: %v", err)
	}
	if st.Status != want || st.Running != running {
		t.Errorf("QueryStatus = %+v, want status %s, running %v", st, want, running)
	}
}

// TestRealQEMULifecycle drives a VM through stop, resume, reset, powerdown
// and quit, runs the queries, opens and closes a VNC session, reads the
// 200 KB schema and checks the pretty monitor and the busy-monitor error.
func TestRealQEMULifecycle(t *testing.T) {
	t.Parallel()
	in := qemutest.Start(t, qemutest.Options{Boot: qemutest.Idle, Paused: true, VNC: true, PrettyMonitor: true})
	c := dialQEMU(t, in.QMPPath)
	pretty := dialQEMU(t, in.PrettyQMPPath)
	ctx := qemuContext(t)

	// QEMU serves one client per socket: a second client gets no greeting.
	_, err := qmp.Dial(ctx, in.QMPPath, qmp.Options{GreetingTimeout: time.Second})
	if !errors.Is(err, qmp.ErrMonitorBusy) {
		t.Errorf("second Dial error = %v, want ErrMonitorBusy", err)
	}

	g := c.Greeting()
	v, err := c.QueryVersion(ctx)
	if err != nil || v != g.Version {
		t.Errorf("QueryVersion = %+v, %v; greeting says %+v", v, err, g.Version)
	}
	checkStatus(t, c, qmp.RunStatePrelaunch, false)

	execute(t, c, "cont", nil)
	waitEvent[qmp.ResumeEvent](t, c, in, qmp.EventResume)
	checkStatus(t, c, qmp.RunStateRunning, true)

	execute(t, c, "stop", nil)
	waitEvent[qmp.StopEvent](t, c, in, qmp.EventStop)
	checkStatus(t, c, qmp.RunStatePaused, false)
	// The pretty monitor sees the same events, spread over many lines.
	waitEvent[qmp.ResumeEvent](t, pretty, in, qmp.EventResume)
	waitEvent[qmp.StopEvent](t, pretty, in, qmp.EventStop)
	st, err := pretty.QueryStatus(ctx)
	if err != nil || st.Status != qmp.RunStatePaused {
		t.Errorf("QueryStatus on the pretty monitor = %+v, %v", st, err)
	}
	execute(t, c, "cont", nil)
	waitEvent[qmp.ResumeEvent](t, c, in, qmp.EventResume)

	execute(t, c, "system_reset", nil)
	reset, _ := waitEvent[qmp.ResetEvent](t, c, in, qmp.EventReset)
	if reset != (qmp.ResetEvent{Guest: false, Reason: qmp.ShutdownCauseHostQMPSystemReset}) {
		t.Errorf("RESET = %+v", reset)
	}

	execute(t, c, "system_powerdown", nil)
	waitEvent[qmp.PowerdownEvent](t, c, in, qmp.EventPowerdown)

	// VNC session: connect, initialise, disconnect.
	if _, err := qemutest.VNCHandshake(ctx, in.VNCAddr); err != nil {
		t.Fatalf("VNC handshake: %v", err)
	}
	_, port, _ := net.SplitHostPort(in.VNCAddr)
	server := qmp.VNCServerInfo{VNCBasicInfo: qmp.VNCBasicInfo{Host: "127.0.0.1", Service: port, Family: qmp.NetworkAddressFamilyIPv4}, Auth: "none"}
	connected, _ := waitEvent[qmp.VNCConnectedEvent](t, c, in, qmp.EventVNCConnected)
	if connected.Server != server || connected.Client.Host != "127.0.0.1" || connected.Client.Family != qmp.NetworkAddressFamilyIPv4 || connected.Client.Websocket {
		t.Errorf("VNC_CONNECTED = %+v", connected)
	}
	clientPort, err := strconv.Atoi(connected.Client.Service)
	if err != nil || clientPort == 0 {
		t.Errorf("VNC client service %q is not a port", connected.Client.Service)
	}
	initialized, _ := waitEvent[qmp.VNCInitializedEvent](t, c, in, qmp.EventVNCInitialized)
	if initialized.Server != server || initialized.Client.VNCBasicInfo != connected.Client || initialized.Client.SASLUsername != "" {
		t.Errorf("VNC_INITIALIZED = %+v", initialized)
	}
	disconnected, _ := waitEvent[qmp.VNCDisconnectedEvent](t, c, in, qmp.EventVNCDisconnected)
	if disconnected.Server != server || disconnected.Client.VNCBasicInfo != connected.Client {
		t.Errorf("VNC_DISCONNECTED = %+v", disconnected)
	}
	vnc, err := c.QueryVNC(ctx)
	if err != nil || !vnc.Enabled || vnc.Service != port || vnc.Auth != "none" {
		t.Errorf("QueryVNC = %+v, %v", vnc, err)
	}

	// Queries.
	if _, err := c.QuerySPICE(ctx); err != nil && !errors.Is(err, qmp.ErrCommandNotFound) {
		t.Errorf("QuerySPICE: %v", err)
	}
	if _, err := c.QueryBalloon(ctx); !errors.Is(err, qmp.ErrDeviceNotActive) {
		t.Errorf("QueryBalloon without a balloon = %v, want DeviceNotActive", err)
	}
	if name, err := c.QueryName(ctx); err != nil || name != "" {
		t.Errorf("QueryName = %q, %v", name, err)
	}
	if uuid, err := c.QueryUUID(ctx); err != nil || len(uuid) != 36 {
		t.Errorf("QueryUUID = %q, %v", uuid, err)
	}
	blocks, err := c.QueryBlock(ctx)
	if err != nil || len(blocks) == 0 || blocks[0].Inserted == nil || blocks[0].IOStatus != qmp.IOStatusOK {
		t.Errorf("QueryBlock = %+v, %v", blocks, err)
	}
	err = c.Execute(ctx, "no-such-command", nil, nil)
	if !errors.Is(err, qmp.ErrCommandNotFound) {
		t.Errorf("unknown command error = %v", err)
	}

	// The schema is one reply of about 200 KB on a single line.
	before := c.Stats().BytesRead
	schema, err := c.QueryQMPSchema(ctx)
	if err != nil {
		t.Fatalf("QueryQMPSchema: %v", err)
	}
	size := c.Stats().BytesRead - before
	events := map[string]bool{}
	for _, e := range schema {
		if e.MetaType == "event" {
			events[e.Name] = true
		}
	}
	t.Logf("query-qmp-schema: %d entries, %d events, %d bytes", len(schema), len(events), size)
	if size < 100<<10 {
		t.Errorf("schema reply was only %d bytes", size)
	}
	for _, name := range []string{"SHUTDOWN", "RESET", "STOP", "RESUME", "WATCHDOG", "GUEST_PANICKED", "BLOCK_IO_ERROR", "RTC_CHANGE", "VNC_CONNECTED"} {
		if !events[name] {
			t.Errorf("schema lacks event %s", name)
		}
	}
	checkEventFields(t, schema, g.Version.QEMU)

	// quit: SHUTDOWN, then QEMU closes the socket.
	execute(t, c, "quit", nil)
	shutdown, _ := waitEvent[qmp.ShutdownEvent](t, c, in, qmp.EventShutdown)
	if shutdown != (qmp.ShutdownEvent{Guest: false, Reason: qmp.ShutdownCauseHostQMPQuit}) {
		t.Errorf("SHUTDOWN = %+v", shutdown)
	}
	for range c.Events() {
	}
	if !errors.Is(c.Err(), io.EOF) {
		t.Errorf("Err() after quit = %v, want io.EOF", c.Err())
	}
	if err := in.Wait(ctx); err != nil {
		t.Errorf("QEMU exit: %v", err)
	}
	if st := c.Stats(); st.EventsDropped != 0 || st.RepliesUnmatched != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRealQEMUGuestEvents(t *testing.T) {
	t.Parallel()
	t.Run("guest panic via pvpanic", func(t *testing.T) {
		t.Parallel()
		in := qemutest.Start(t, qemutest.Options{Boot: qemutest.Panic, Paused: true, Args: []string{"-device", "pvpanic"}})
		c := dialQEMU(t, in.QMPPath)
		execute(t, c, "cont", nil)
		panicked, _ := waitEvent[qmp.GuestPanickedEvent](t, c, in, qmp.EventGuestPanicked)
		if panicked.Action != qmp.GuestPanicActionPause || panicked.Info != nil {
			t.Errorf("GUEST_PANICKED = %+v", panicked)
		}
		waitEvent[qmp.StopEvent](t, c, in, qmp.EventStop)
		checkStatus(t, c, qmp.RunStateGuestPanicked, false)
		// SIGTERM: SHUTDOWN with reason host-signal.
		if err := in.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		sd, _ := waitEvent[qmp.ShutdownEvent](t, c, in, qmp.EventShutdown)
		if sd != (qmp.ShutdownEvent{Guest: false, Reason: qmp.ShutdownCauseHostSignal}) {
			t.Errorf("SHUTDOWN = %+v", sd)
		}
	})
	t.Run("watchdog expires and pauses", func(t *testing.T) {
		t.Parallel()
		in := qemutest.Start(t, qemutest.Options{Boot: qemutest.Watchdog, Paused: true,
			Args: []string{"-device", "ib700", "-watchdog-action", "pause"}})
		c := dialQEMU(t, in.QMPPath)
		execute(t, c, "cont", nil)
		wd, _ := waitEvent[qmp.WatchdogEvent](t, c, in, qmp.EventWatchdog)
		if wd.Action != qmp.WatchdogActionPause {
			t.Errorf("WATCHDOG = %+v", wd)
		}
		waitEvent[qmp.StopEvent](t, c, in, qmp.EventStop)
		checkStatus(t, c, qmp.RunStateWatchdog, false)
	})
	t.Run("guest sets the RTC", func(t *testing.T) {
		t.Parallel()
		in := qemutest.Start(t, qemutest.Options{Boot: qemutest.RTC, Paused: true})
		c := dialQEMU(t, in.QMPPath)
		execute(t, c, "cont", nil)
		rtc, ev := waitEvent[qmp.RTCChangeEvent](t, c, in, qmp.EventRTCChange)
		t.Logf("RTC_CHANGE offset %d (%s)", rtc.Offset, ev.Data)
		if c.Greeting().Version.QEMU.AtLeast(7, 2, 0) && rtc.QOMPath == "" {
			t.Errorf("RTC_CHANGE lacks qom-path on QEMU %s", c.Greeting().Version.QEMU)
		}
	})
	t.Run("guest triple fault resets", func(t *testing.T) {
		t.Parallel()
		in := qemutest.Start(t, qemutest.Options{Boot: qemutest.TripleFault, Paused: true, Accel: "tcg"})
		c := dialQEMU(t, in.QMPPath)
		execute(t, c, "cont", nil)
		reset, _ := waitEvent[qmp.ResetEvent](t, c, in, qmp.EventReset)
		if reset != (qmp.ResetEvent{Guest: true, Reason: qmp.ShutdownCauseGuestReset}) {
			t.Errorf("RESET = %+v", reset)
		}
	})
	t.Run("disk read error stops the VM", func(t *testing.T) {
		t.Parallel()
		disk := qemutest.BlkdebugReadErrorDisk(t, "disk0")
		in := qemutest.Start(t, qemutest.Options{Paused: true, Args: disk})
		c := dialQEMU(t, in.QMPPath)
		execute(t, c, "cont", nil)
		ioerr, _ := waitEvent[qmp.BlockIOErrorEvent](t, c, in, qmp.EventBlockIOError)
		if ioerr.Device != "disk0" || ioerr.Operation != qmp.IOOperationRead || ioerr.Action != qmp.BlockErrorActionStop ||
			ioerr.NodeName == "" || ioerr.Reason == "" {
			t.Errorf("BLOCK_IO_ERROR = %+v", ioerr)
		}
		if ioerr.NoSpace == nil || *ioerr.NoSpace {
			t.Errorf("BLOCK_IO_ERROR nospace = %v, want present and false", ioerr.NoSpace)
		}
		waitEvent[qmp.StopEvent](t, c, in, qmp.EventStop)
		checkStatus(t, c, qmp.RunStateIOError, false)
		blocks, err := c.QueryBlock(qemuContext(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if b.Device == "disk0" && b.IOStatus != qmp.IOStatusFailed {
				t.Errorf("disk0 io-status = %q, want failed", b.IOStatus)
			}
		}
	})
}

// checkEventFields compares the typed event structs with the schema of the
// QEMU under test: every member QEMU declares for an event must have a
// field of the same JSON name, so no field QEMU sends is silently dropped
// by Decode. (Fields of newer QEMU versions may be absent here.)
func checkEventFields(t *testing.T, schema []qmp.SchemaInfo, version qmp.VersionTriple) {
	t.Helper()
	type entry struct {
		ArgType string `json:"arg-type"`
		Members []struct {
			Name string `json:"name"`
		} `json:"members"`
	}
	byName := map[string]entry{}
	for _, s := range schema {
		var e entry
		if err := json.Unmarshal(s.Raw, &e); err != nil {
			t.Fatalf("schema entry %s: %v", s.Name, err)
		}
		byName[s.Name] = e
	}
	for _, s := range schema {
		if s.MetaType != "event" {
			continue
		}
		if !qmp.KnownEvent(s.Name) {
			t.Logf("event %s of QEMU %s has no typed struct (kept raw)", s.Name, version)
			continue
		}
		v, err := qmp.Event{Name: s.Name}.Decode()
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		fields := map[string]bool{}
		typ := reflect.TypeOf(v)
		for i := 0; i < typ.NumField(); i++ {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields[name] = true
		}
		for _, m := range byName[byName[s.Name].ArgType].Members {
			if !fields[m.Name] {
				t.Errorf("event %s: QEMU %s sends member %q, which %s lacks", s.Name, version, m.Name, typ)
			}
		}
	}
}
