package libvirtsource

import (
	"fmt"
	"strings"
	"testing"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
)

const (
	testUUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"
	// by and dom are how notes name the writer and the domain of line's records.
	by  = "libvirtd (pid 7616) as user root "
	dom = `domain "tiny vm" (` + testUUID + `)`
)

// line is a record as domain_audit.c writes it: pre (resrc/op and
// reason) before the domain's vm= and uuid=, post after them.
func line(typ, pre, post, res string) string {
	return fmt.Sprintf("type=%s msg=audit(1795274857.474:15): pid=7616 uid=0 auid=4294967295 ses=4294967295 msg='virt=qemu %s vm=74696E7920766D uuid=%s %s exe=\"/usr/sbin/libvirtd\" hostname=? addr=? terminal=? res=%s'\x1dUID=\"root\" AUID=\"unset\"",
		typ, pre, testUUID, post, res)
}

func apply(t *testing.T, f *model.Facts, l string) model.Occurrence {
	t.Helper()
	r, err := audit.Parse([]byte(l))
	if err != nil {
		t.Fatal(err)
	}
	return Apply(f, r)
}

// resources prints the devices in the facts, pointers followed.
func resources(r model.Resources) string {
	s := fmt.Sprintf("disks %q nics %q", r.Disks, r.NICs)
	if r.VCPUs != nil {
		s += fmt.Sprintf(" vcpus %d", *r.VCPUs)
	}
	if r.MemoryBytes != nil {
		s += fmt.Sprintf(" memory %d", *r.MemoryBytes)
	}
	return s
}

func i32(n int32) *int32 { return &n }
func i64(n int64) *int64 { return &n }

// TestApply feeds one record each of every kind libvirt's
// src/conf/domain_audit.c writes, in its field names and order, into
// empty facts.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name, typ, pre, post, res string
		reason, note, series      string
		facts                     model.Resources
		state                     vmv1.RunState
	}{
		{name: "start", typ: audit.TypeControl, pre: "op=start reason=booted", post: "vm-pid=8013", res: "success",
			reason: "LibvirtStart", note: by + "started " + dom + " (reason: booted); QEMU pid 8013", series: "booted", state: vmv1.RunStateRunning},
		{name: "failed start", typ: audit.TypeControl, pre: "op=start reason=booted", post: "vm-pid=0", res: "failed",
			reason: "LibvirtStart", note: by + "failed to start " + dom + " (reason: booted)", series: "booted"},
		// virDomainAuditStop: the pid is 0, the process is gone.
		{name: "stop", typ: audit.TypeControl, pre: "op=stop reason=destroyed", post: "vm-pid=0", res: "success",
			reason: "LibvirtStop", note: by + "stopped " + dom + " (reason: destroyed)", series: "destroyed", state: vmv1.RunStateShutdown},
		{name: "stop with a pid", typ: audit.TypeControl, pre: "op=stop reason=shutdown", post: "vm-pid=77", res: "success",
			reason: "LibvirtStop", note: by + "stopped " + dom + " (reason: shutdown); QEMU pid 77 is gone", series: "shutdown", state: vmv1.RunStateShutdown},
		{name: "crashed", typ: audit.TypeControl, pre: "op=stop reason=crashed", post: "vm-pid=0", res: "success",
			reason: "LibvirtStop", note: by + "stopped " + dom + " (reason: crashed)", series: "crashed", state: vmv1.RunStateCrashed},
		{name: "init", typ: audit.TypeControl, pre: "op=init", post: "vm-pid=1 init-pid=2 pid-ns=3", res: "success",
			reason: "LibvirtInit", note: by + "started the init process of container " + dom + ": pid 2 in pid namespace 3 (vm-pid 1)"},
		{name: "machine id", typ: audit.TypeMachineID, post: "vm-ctx=+0:+0 img-ctx=+0:+0 model=dac", res: "success",
			reason: "LibvirtMachineID", note: by + "labelled " + dom + " with security model dac: process context +0:+0, image context +0:+0", series: "dac"},
		{name: "vcpu", typ: audit.TypeResource, pre: "resrc=vcpu reason=start", post: "old-vcpu=0 new-vcpu=2", res: "success",
			reason: "LibvirtResourceVCPU", note: by + "changed the vCPU count of " + dom + " from 0 to 2 (reason: start)", series: "vcpu/start",
			facts: model.Resources{VCPUs: i32(2)}},
		{name: "mem", typ: audit.TypeResource, pre: "resrc=mem reason=start", post: "old-mem=0 new-mem=65536", res: "success",
			reason: "LibvirtResourceMem", note: by + "changed the memory of " + dom + " from 0 KiB to 65536 KiB (reason: start)", series: "mem/start",
			facts: model.Resources{MemoryBytes: i64(64 << 20)}},
		// new-iothread=10 is a number, not the hex of a byte.
		{name: "iothread", typ: audit.TypeResource, pre: "resrc=iothread reason=start", post: "old-iothread=0 new-iothread=10", res: "success",
			reason: "LibvirtResourceIOThread", note: by + "changed the IOThread count of " + dom + " from 0 to 10 (reason: start)", series: "iothread/start"},
		{name: "failed disk", typ: audit.TypeResource, pre: "resrc=disk reason=attach", post: "old-disk=\"?\" new-disk=2F746D702F6120622E696D67", res: "failed",
			reason: "LibvirtResourceDisk", note: by + "failed to change the disk of " + dom + " from none to /tmp/a b.img (reason: attach)", series: "disk/attach///tmp/a b.img"},
		{name: "disk", typ: audit.TypeResource, pre: "resrc=disk reason=start", post: "old-disk=\"?\" new-disk=\"/a.img\"", res: "success",
			reason: "LibvirtResourceDisk", note: by + "changed the disk of " + dom + " from none to /a.img (reason: start)", series: "disk/start///a.img",
			facts: model.Resources{Disks: []string{"/a.img"}}},
		{name: "net", typ: audit.TypeResource, pre: "resrc=net reason=start", post: "old-net=\"?\" new-net=\"52:54:00:12:34:56\"", res: "success",
			reason: "LibvirtResourceNet", note: by + "changed the NIC (MAC address) of " + dom + " from none to 52:54:00:12:34:56 (reason: start)", series: "net/start//52:54:00:12:34:56",
			facts: model.Resources{NICs: []string{"52:54:00:12:34:56"}}},
		// virDomainAuditNetDevice: the device opened, and its number in hex.
		{name: "net open", typ: audit.TypeResource, pre: "resrc=net reason=open", post: "net=52:54:00:12:34:56 path=\"/dev/net/tun\" rdev=0A:C8", res: "success",
			reason: "LibvirtResourceNet", note: by + "opened /dev/net/tun (device number 10:200) for the NIC 52:54:00:12:34:56 of " + dom + " (reason: open)", series: "net/open/52:54:00:12:34:56//dev/net/tun"},
		{name: "net open, not a device", typ: audit.TypeResource, pre: "resrc=net reason=open", post: "net=52:54:00:12:34:56 path=2F746D702F612062 rdev=?", res: "failed",
			reason: "LibvirtResourceNet", note: by + "failed to open /tmp/a b for the NIC 52:54:00:12:34:56 of " + dom + " (reason: open)", series: "net/open/52:54:00:12:34:56//tmp/a b"},
		{name: "fs", typ: audit.TypeResource, pre: "resrc=fs reason=start", post: "old-fs=\"?\" new-fs=\"/srv\"", res: "success",
			reason: "LibvirtResourceFs", note: by + "changed the filesystem of " + dom + " from none to /srv (reason: start)", series: "fs/start///srv"},
		{name: "hostdev storage", typ: audit.TypeResource, pre: "resrc=hostdev reason=attach", post: "disk=\"/dev/sdb\"", res: "success",
			reason: "LibvirtResourceHostdev", note: by + "changed the host device assignment of " + dom + ": disk /dev/sdb (reason: attach)", series: "hostdev/attach//dev/sdb"},
		{name: "dev pci", typ: audit.TypeResource, pre: "resrc=dev reason=attach", post: "bus=pci device=\"0000:00:1f.0\"", res: "success",
			reason: "LibvirtResourceDev", note: by + "changed the host device assignment of " + dom + ": bus pci, device 0000:00:1f.0 (reason: attach)", series: "dev/attach/pci/0000:00:1f.0"},
		{name: "dev usb", typ: audit.TypeResource, pre: "resrc=dev reason=start", post: "bus=usb device=\"001.002\"", res: "success",
			reason: "LibvirtResourceDev", note: by + "changed the host device assignment of " + dom + ": bus usb, device 001.002 (reason: start)", series: "dev/start/usb/001.002"},
		// virDomainAuditRedirdev: device="USB redirdev", hex-encoded for its space.
		{name: "redirdev", typ: audit.TypeResource, pre: "resrc=dev reason=start", post: "bus=usb device=555342207265646972646576", res: "success",
			reason: "LibvirtResourceRedirdev", note: by + "changed the USB redirection of " + dom + " (a redirected USB device on bus usb) (reason: start)", series: "redirdev/start/usb"},
		{name: "tpm", typ: audit.TypeResource, pre: "resrc=tpm reason=start", post: "device=\"/dev/tpm0\"", res: "success",
			reason: "LibvirtResourceTPM", note: by + "changed the TPM of " + dom + ": /dev/tpm0 (reason: start)", series: "tpm/start//dev/tpm0"},
		{name: "tpm emulator", typ: audit.TypeResource, pre: "resrc=tpm-emulator reason=start", post: "device=\"/run/swtpm.sock\"", res: "success",
			reason: "LibvirtResourceTPMEmulator", note: by + "changed the TPM emulator socket of " + dom + ": /run/swtpm.sock (reason: start)", series: "tpm-emulator/start//run/swtpm.sock"},
		{name: "rng", typ: audit.TypeResource, pre: "resrc=rng reason=start", post: "old-rng=\"?\" new-rng=\"/dev/urandom\"", res: "success",
			reason: "LibvirtResourceRng", note: by + "changed the RNG source of " + dom + " from none to /dev/urandom (reason: start)", series: "rng/start///dev/urandom"},
		{name: "chardev", typ: audit.TypeResource, pre: "resrc=chardev reason=start", post: "old-chardev=\"?\" new-chardev=\"/dev/pts/3\"", res: "success",
			reason: "LibvirtResourceChardev", note: by + "changed the character device of " + dom + " from none to /dev/pts/3 (reason: start)", series: "chardev/start///dev/pts/3"},
		{name: "smartcard", typ: audit.TypeResource, pre: "resrc=smartcard reason=start", post: "old-smartcard=\"?\" new-smartcard=\"nss-smartcard-device\"", res: "success",
			reason: "LibvirtResourceSmartcard", note: by + "changed the smartcard of " + dom + " from none to nss-smartcard-device (reason: start)", series: "smartcard/start//nss-smartcard-device"},
		// virDomainAuditCgroupMajor writes maj in hex: 88 is 136 (pty).
		{name: "cgroup major", typ: audit.TypeResource, pre: "resrc=cgroup reason=allow", post: "cgroup=\"/sys/fs/cgroup/x/\" class=major category=pty maj=88 acl=rw", res: "success",
			reason: "LibvirtResourceCgroup", note: by + "changed the device cgroup of " + dom + ": cgroup /sys/fs/cgroup/x/, class major, category pty, major 136, acl rw (reason: allow)", series: "cgroup/allow/major/pty"},
		{name: "cgroup path", typ: audit.TypeResource, pre: "resrc=cgroup reason=allow", post: "cgroup=\"/sys/fs/cgroup/x/\" class=path path=\"/dev/kvm\" rdev=0A:E8 acl=rw", res: "success",
			reason: "LibvirtResourceCgroup", note: by + "changed the device cgroup of " + dom + ": cgroup /sys/fs/cgroup/x/, class path, path /dev/kvm, device number 10:232, acl rw (reason: allow)", series: "cgroup/allow/path//dev/kvm"},
		// virDomainAuditShmem: size= and path=/dev/shm/NAME, written raw.
		{name: "shmem", typ: audit.TypeResource, pre: "resrc=shmem reason=start", post: "size=4194304 path=/dev/shm/shm0", res: "success",
			reason: "LibvirtResourceShmem", note: by + "changed the shared memory of " + dom + ": /dev/shm/shm0 of 4194304 bytes (reason: start)", series: "shmem/start//dev/shm/shm0"},
		{name: "ivshmem socket", typ: audit.TypeResource, pre: "resrc=ivshmem-socket reason=start", post: "path=/run/ivshmem.sock", res: "success",
			reason: "LibvirtResourceIvshmemSocket", note: by + "changed the ivshmem server socket of " + dom + ": /run/ivshmem.sock (reason: start)", series: "ivshmem-socket/start//run/ivshmem.sock"},
		// virDomainAuditInput: passthrough and evdev inputs.
		{name: "evdev", typ: audit.TypeResource, pre: "resrc=evdev reason=attach", post: "path=/dev/input/event3", res: "success",
			reason: "LibvirtResourceEvdev", note: by + "changed the input device passed through to " + dom + ": /dev/input/event3 (reason: attach)", series: "evdev/attach//dev/input/event3"},
		{name: "unknown kind", typ: audit.TypeResource, pre: "resrc=gpu-thing reason=start", post: "slot=3", res: "success",
			reason: "LibvirtResourceGpuThing", note: by + "changed resource gpu-thing of " + dom + ": slot=3 (reason: start)", series: "gpu-thing/start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f model.Facts
			occ := apply(t, &f, line(tc.typ, tc.pre, tc.post, tc.res))
			if occ.Reason != tc.reason || occ.Warning != (tc.res == "failed") || occ.Note != tc.note || occ.Series != tc.series {
				t.Errorf("got %s warning=%v series %q\n%q\nwant %s\n%q", occ.Reason, occ.Warning, occ.Series, occ.Note, tc.reason, tc.note)
			}
			if resources(f.Resources) != resources(tc.facts) || f.RunState != tc.state {
				t.Errorf("facts %s %s, want %s %s", f.RunState, resources(f.Resources), tc.state, resources(tc.facts))
			}
			if f.EventCounts[occ.Action] != 1 || len(f.EventCounts) != 1 {
				t.Errorf("counts %v", f.EventCounts)
			}
		})
	}
}

// TestForgedKind: whatever bytes resrc holds, the reason is an identifier
// and the metric label one of a bounded set.
func TestForgedKind(t *testing.T) {
	for _, kind := range []string{"ev\x01il\x1b[2J", "\x7f\x00", strings.Repeat("Ab", 100), "é-ß"} {
		var f model.Facts
		occ := apply(t, &f, line(audit.TypeResource, "resrc=\""+kind+"\" reason=start", "x=1", "success"))
		r := strings.TrimPrefix(occ.Reason, ReasonResourcePrefix)
		if r == "" || len(occ.Reason) > len(ReasonResourcePrefix)+40 || r[0] < 'A' || r[0] > 'Z' {
			t.Errorf("%q: reason %q", kind, occ.Reason)
		}
		for _, c := range r {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				t.Errorf("%q: reason %q holds %q", kind, occ.Reason, c)
			}
		}
		if metricAction(occ.Action) != "libvirt-resource-other" {
			t.Errorf("%q: metric label %q", kind, metricAction(occ.Action))
		}
		for k := range f.EventCounts {
			if model.Clean(k, 64) != k {
				t.Errorf("%q: count key %q", kind, k)
			}
		}
	}
	want := map[string]string{"ev\x01il\x1b[2J": "LibvirtResourceEvIl2j", "\x7f\x00": "LibvirtResourceUnknown"}
	for kind, reason := range want {
		if got := ResourceReason(kind); got != reason {
			t.Errorf("ResourceReason(%q) = %q, want %q", kind, got, reason)
		}
	}
	for _, known := range []string{"iothread", "evdev", "ivshmem-socket", "redirdev", "shmem"} {
		if metricAction("libvirt-resource-"+known) != "libvirt-resource-"+known {
			t.Errorf("%s is counted as other", known)
		}
	}
}

func TestApplyFacts(t *testing.T) {
	var f model.Facts
	for _, l := range []string{
		line(audit.TypeResource, "resrc=disk reason=start", "old-disk=\"?\" new-disk=\"/a.img\"", "success"),
		line(audit.TypeResource, "resrc=net reason=start", "old-net=\"?\" new-net=\"52:54:00:12:34:56\"", "success"),
		line(audit.TypeResource, "resrc=net reason=open", "net=52:54:00:12:34:56 path=\"/dev/net/tun\" rdev=0A:C8", "success"),
		line(audit.TypeResource, "resrc=mem reason=start", "old-mem=0 new-mem=65536", "success"),
		line(audit.TypeResource, "resrc=vcpu reason=start", "old-vcpu=0 new-vcpu=2", "success"),
		line(audit.TypeControl, "op=start reason=booted", "vm-pid=8", "success"),
		line(audit.TypeResource, "resrc=disk reason=attach", "old-disk=\"?\" new-disk=\"/b.img\"", "success"),
		line(audit.TypeResource, "resrc=disk reason=attach", "old-disk=\"?\" new-disk=\"/c.img\"", "failed"),
		line(audit.TypeResource, "resrc=disk reason=detach", "old-disk=\"/a.img\" new-disk=\"?\"", "success"),
	} {
		apply(t, &f, l)
	}
	r := f.Resources
	if *r.VCPUs != 2 || *r.MemoryBytes != 65536*1024 || fmt.Sprint(r.Disks) != "[/b.img]" || fmt.Sprint(r.NICs) != "[52:54:00:12:34:56]" {
		t.Errorf("resources %+v", r)
	}
	if f.RunState != vmv1.RunStateRunning || f.StartTime.IsZero() {
		t.Errorf("run state %s, start %v", f.RunState, f.StartTime)
	}
	apply(t, &f, line(audit.TypeControl, "op=stop reason=destroyed", "vm-pid=0", "success"))
	if f.RunState != vmv1.RunStateShutdown || f.RunStateReason != "destroyed" || f.Resources.Disks != nil {
		t.Errorf("after stop: %s/%s %v", f.RunState, f.RunStateReason, f.Resources.Disks)
	}
}
