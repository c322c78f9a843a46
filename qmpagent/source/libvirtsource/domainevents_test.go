package libvirtsource

import (
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// liveTiny is a running domain's XML as libvirt 9.0 gives it (trimmed):
// a file disk, a USB disk just attached, a network disk and an empty
// CD-ROM (no host path, as the audit records skip them), one NIC.
const liveTiny = `<domain type='qemu' id='3'><name>tiny</name><devices>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/tmp/h17lv/boot.img' index='1'/><backingStore/><target dev='hda' bus='ide'/><alias name='ide0-0-0'/></disk>
<disk type='block' device='disk'><source dev='/dev/sdb' index='2'/><target dev='sdb' bus='usb'/><alias name='usb-disk1'/></disk>
<disk type='network' device='disk'><source protocol='nbd' name='x'><host name='h'/></source><target dev='vdc' bus='virtio'/></disk>
<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
<interface type='ethernet'><mac address='52:54:00:AB:34:56'/><target dev='vnet0'/><model type='e1000'/></interface>
</devices></domain>`

func TestDomainEvents(t *testing.T) {
	at := time.Unix(1795915500, 0)
	dom := libvirt.Domain{Name: "tiny\x1b[2J"}
	for _, tc := range []struct {
		name       string
		event      domainEvent
		before     model.Facts
		reason     string
		warning    bool
		note       string
		resources  string
		lastError  string
		resetAfter bool
	}{
		{name: "control error on the monitor", event: domainEvent{kind: eventControlError, dom: dom, control: int32(libvirt.DomainControlErrorReasonMonitor)},
			before: model.Facts{Monitor: model.Monitor{Source: vmv1.SourceLibvirt}},
			reason: "LibvirtDomainControlError", warning: true, note: `libvirt lost control of domain "tiny?[2J": an error on its QEMU monitor connection`,
			resources: `disks [] nics []`, lastError: "libvirt control error: an error on its QEMU monitor connection"},
		{name: "control error, reason unknown", event: domainEvent{kind: eventControlError, dom: dom, control: -1},
			reason: "LibvirtDomainControlError", warning: true, note: `libvirt lost control of domain "tiny?[2J": a reason libvirt did not say`,
			resources: `disks [] nics []`},
		{name: "reboot", event: domainEvent{kind: eventReboot, dom: dom},
			reason: "LibvirtDomainReboot", note: `libvirt: domain "tiny?[2J" was reset`, resources: `disks [] nics []`, resetAfter: true},
		{name: "device added", event: domainEvent{kind: eventDeviceAdded, dom: dom, alias: "usb-disk1", devices: liveDevices(liveTiny)},
			before: model.Facts{Resources: model.Resources{Disks: []string{"/tmp/h17lv/boot.img"}, VCPUs: i32(1)}},
			reason: "LibvirtDomainDeviceAdded", note: `libvirt: device "usb-disk1" added to domain "tiny?[2J"`,
			resources: `disks ["/tmp/h17lv/boot.img" "/dev/sdb"] nics ["52:54:00:ab:34:56"] vcpus 1`},
		{name: "device removed, definition unreadable", event: domainEvent{kind: eventDeviceRemoved, dom: dom, alias: "usb-disk1"},
			before: model.Facts{Resources: model.Resources{Disks: []string{"/a.img"}}},
			reason: "LibvirtDomainDeviceRemoved", note: `libvirt: device "usb-disk1" removed from domain "tiny?[2J"`,
			resources: `disks ["/a.img"] nics []`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.before
			occ := tc.event.apply(&f, at)
			if occ.Reason != tc.reason || occ.Warning != tc.warning || occ.Note != tc.note || !occ.Time.Equal(at) {
				t.Errorf("got %s warning=%v %q", occ.Reason, occ.Warning, occ.Note)
			}
			if resources(f.Resources) != tc.resources || f.Monitor.LastError != tc.lastError || (f.LastReset != nil) != tc.resetAfter {
				t.Errorf("facts %s, last error %q, reset %+v", resources(f.Resources), f.Monitor.LastError, f.LastReset)
			}
			if f.EventCounts[occ.Action] != 1 {
				t.Errorf("counts %v", f.EventCounts)
			}
		})
	}
	if liveDevices("<domain><devices><disk") != nil {
		t.Error("a truncated definition was read")
	}
}
