package model

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// QMPMonitor is what SyncQMP needs of a QMP connection (*qmp.Conn).
type QMPMonitor interface {
	Greeting() qmp.Greeting
	QueryStatus(ctx context.Context) (qmp.StatusInfo, error)
	QueryName(ctx context.Context) (string, error)
	QueryUUID(ctx context.Context) (string, error)
	QueryVNC(ctx context.Context) (qmp.VNCInfo, error)
	QuerySPICE(ctx context.Context) (qmp.SpiceInfo, error)
	QueryBlock(ctx context.Context) ([]qmp.BlockInfo, error)
	QueryBalloon(ctx context.Context) (qmp.BalloonInfo, error)
}

// SyncQMPStatus asks QEMU for its run state: the truth after a STOP, a SHUTDOWN,
// a reconnect or shed events.
func SyncQMPStatus(ctx context.Context, m QMPMonitor, f *Facts, now time.Time) error {
	st, err := m.QueryStatus(ctx)
	if err != nil {
		return fmt.Errorf("query-status: %w", err)
	}
	f.SetRunState(summarise(st.Status), Clean(string(st.Status), 64), now)
	return nil
}

// SyncQMP reads everything QEMU can tell about the VM's present state into f.
// Commands a QEMU does not have (query-spice without SPICE) or devices it
// lacks (no balloon) are not errors.
func SyncQMP(ctx context.Context, m QMPMonitor, f *Facts, now time.Time) error {
	if err := SyncQMPStatus(ctx, m, f, now); err != nil {
		return err
	}
	v := m.Greeting().Version.QEMU
	f.Monitor.QEMUVersion = fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
	if name, err := m.QueryName(ctx); err == nil {
		f.Monitor.VMName = Clean(name, 256)
	}
	// QEMU answers all zeros when no -uuid was given: that is no UUID.
	if uuid, err := m.QueryUUID(ctx); err == nil && uuid != "00000000-0000-0000-0000-000000000000" {
		f.Monitor.VMUUID = Clean(uuid, 36)
	}
	if err := syncDisplay(ctx, m, f, now); err != nil {
		return err
	}
	if err := syncBlock(ctx, m, f, now); err != nil {
		return err
	}
	switch b, err := m.QueryBalloon(ctx); {
	case err == nil:
		actual := b.Actual
		f.BalloonActualBytes = &actual
	case !absent(err):
		return fmt.Errorf("query-balloon: %w", err)
	}
	return nil
}

// absent reports an error that means "this QEMU has no such thing".
func absent(err error) bool {
	return errors.Is(err, qmp.ErrCommandNotFound) || errors.Is(err, qmp.ErrDeviceNotActive) ||
		errors.Is(err, qmp.ErrDeviceNotFound) || errors.Is(err, qmp.ErrGenericError)
}

// syncDisplay replaces the display sessions with the clients QEMU lists,
// keeping the connection time of those the agent already knew.
func syncDisplay(ctx context.Context, m QMPMonitor, f *Facts, now time.Time) error {
	old := f.Display
	f.Display = nil
	keep := func(d DisplaySession) {
		d.Since = now
		if o, ok := knownSession(old, d); ok && !o.Since.IsZero() {
			d.Since = o.Since
		}
		addDisplay(f, d)
	}
	vnc, err := m.QueryVNC(ctx)
	switch {
	case err == nil:
		for _, c := range vnc.Clients {
			user := s(c.SASLUsername)
			if user == "" {
				user = s(c.X509DName)
			}
			keep(DisplaySession{Protocol: "vnc", Client: hostPort(c.Host, c.Service), Auth: s(vnc.Auth), Username: user})
		}
	case !absent(err):
		return fmt.Errorf("query-vnc: %w", err)
	}
	spice, err := m.QuerySPICE(ctx)
	switch {
	case err == nil:
		// One session per connection-id, however many channels it has.
		var sessions Facts
		for _, c := range spice.Channels {
			addSpiceChannel(&sessions, c, s(spice.Auth), now)
		}
		for _, d := range sessions.DisplaySessions() {
			keep(d)
		}
	case !absent(err):
		return fmt.Errorf("query-spice: %w", err)
	}
	return nil
}

// knownSession finds d among the sessions the agent knew: by its key, or,
// for a session read back from status (which keeps no SPICE connection-id),
// by its client's address.
func knownSession(old map[string]DisplaySession, d DisplaySession) (DisplaySession, bool) {
	if o, ok := old[d.Key()]; ok {
		return o, true
	}
	for _, o := range old {
		if o.Protocol == d.Protocol && o.Connection == "" && o.Client == d.Client {
			return o, true
		}
	}
	return DisplaySession{}, false
}

// syncBlock makes sure a device QEMU reports as failed has a block error
// entry, even when the agent missed its BLOCK_IO_ERROR event.
func syncBlock(ctx context.Context, m QMPMonitor, f *Facts, now time.Time) error {
	blocks, err := m.QueryBlock(ctx)
	if err != nil {
		if absent(err) {
			return nil
		}
		return fmt.Errorf("query-block: %w", err)
	}
	for _, b := range blocks {
		if b.IOStatus == "" || b.IOStatus == qmp.IOStatus("ok") {
			continue
		}
		dev := blockDevice(b.QDev, b.Device)
		if b.Device != "" {
			dev = s(b.Device)
		}
		if _, known := f.BlockErrors[dev]; known {
			continue
		}
		if f.BlockErrors == nil {
			f.BlockErrors = map[string]BlockError{}
		}
		f.BlockErrors[dev] = BlockError{
			Device: dev, NoSpace: b.IOStatus == qmp.IOStatus("nospace"),
			Reason: "I/O status " + s(string(b.IOStatus)) + " (found at re-sync)", LastTime: now,
		}
	}
	return nil
}
