package model

import (
	"fmt"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

func balloonChange(f *Facts, v any, _ time.Time) detail {
	e := v.(qmp.BalloonChangeEvent)
	actual := e.Actual
	f.BalloonActualBytes = &actual
	return detail{note: fmt.Sprintf("Guest memory balloon now %d MiB (%d bytes)", actual>>20, actual)}
}

func acpiDeviceOST(_ *Facts, v any, _ time.Time) detail {
	i := v.(qmp.ACPIDeviceOSTEvent).Info
	dev := s(i.Device)
	if dev == "" {
		dev = s(string(i.SlotType)) + " slot " + s(i.Slot)
	}
	return detail{
		note:   fmt.Sprintf("Guest ACPI _OST for %s (%s slot %s): source %#x, status %#x", dev, s(string(i.SlotType)), s(i.Slot), i.Source, i.Status),
		series: fmt.Sprintf("%s/%s/%d/%d", dev, s(i.Slot), i.Source, i.Status),
	}
}

func deviceDeleted(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.DeviceDeletedEvent)
	dev := blockDevice(e.Device, e.Path)
	return detail{note: fmt.Sprintf("Device %s removed (%s)", dev, s(e.Path)), series: dev}
}

func deviceUnplugGuestError(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.DeviceUnplugGuestErrorEvent)
	dev := blockDevice(e.Device, e.Path)
	return detail{note: fmt.Sprintf("Guest refused to release device %s (%s)", dev, s(e.Path)), series: dev}
}

func nicRxFilterChanged(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.NICRxFilterChangedEvent)
	nic := blockDevice(e.Name, e.Path)
	return detail{note: fmt.Sprintf("Guest changed the receive filter of NIC %s", nic), series: nic}
}

func vserportChange(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.VSERPortChangeEvent)
	state := "closed"
	if e.Open {
		state = "opened"
	}
	return detail{note: fmt.Sprintf("Guest %s virtio serial port %s", state, s(e.ID)), series: s(e.ID) + "/" + state}
}

func migration(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.MigrationEvent)
	return detail{note: "Migration " + s(string(e.Status)), series: s(string(e.Status))}
}

func migrationPass(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.MigrationPassEvent)
	return detail{note: fmt.Sprintf("Migration RAM pass %d started", e.Pass)}
}
