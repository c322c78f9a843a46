package libvirtsource

import (
	"fmt"
	"strings"
	"testing"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
)

const testUUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"

func line(typ, fields, res string) string {
	return fmt.Sprintf("type=%s msg=audit(1795274857.474:15): pid=7616 uid=0 auid=4294967295 ses=4294967295 msg='virt=qemu %s vm=74696E7920766D uuid=%s exe=\"/usr/sbin/libvirtd\" hostname=? addr=? terminal=? res=%s'\x1dUID=\"root\" AUID=\"unset\"",
		typ, fields, testUUID, res)
}

func apply(t *testing.T, f *model.Facts, l string) model.Occurrence {
	t.Helper()
	r, err := audit.Parse([]byte(l))
	if err != nil {
		t.Fatal(err)
	}
	return Apply(f, r)
}

func TestApplyNotes(t *testing.T) {
	for _, tc := range []struct {
		typ, fields, res, reason, note string
	}{
		{audit.TypeControl, "op=start reason=booted vm-pid=8013", "success", "LibvirtStart", `libvirtd (pid 7616) as user root started domain "tiny vm" (` + testUUID + `) (reason: booted); QEMU pid 8013`},
		{audit.TypeControl, "op=start reason=booted vm-pid=0", "failed", "LibvirtStart", `libvirtd (pid 7616) as user root failed to start domain "tiny vm" (` + testUUID + `) (reason: booted)`},
		{audit.TypeControl, "op=stop reason=destroyed vm-pid=0", "success", "LibvirtStop", `stopped domain "tiny vm"`},
		{audit.TypeControl, "op=init reason=? vm-pid=1 init-pid=2 pid-ns=3", "success", "LibvirtInit", "init process of container"},
		{audit.TypeMachineID, "vm-ctx=+0:+0 img-ctx=+0:+0 model=dac", "success", "LibvirtMachineID", "with security model dac: process context +0:+0, image context +0:+0"},
		{audit.TypeResource, "resrc=vcpu reason=start old-vcpu=0 new-vcpu=2", "success", "LibvirtResourceVCPU", "changed the vCPU count of domain \"tiny vm\" (" + testUUID + ") from 0 to 2 (reason: start)"},
		{audit.TypeResource, "resrc=mem reason=start old-mem=0 new-mem=65536", "success", "LibvirtResourceMem", "the memory of domain \"tiny vm\" (" + testUUID + ") from 0 KiB to 65536 KiB"},
		{audit.TypeResource, "resrc=disk reason=attach old-disk=\"?\" new-disk=2F746D702F6120622E696D67", "failed", "LibvirtResourceDisk", "failed to change the disk of domain \"tiny vm\" (" + testUUID + ") from none to /tmp/a b.img (reason: attach)"},
		{audit.TypeResource, "resrc=net reason=start old-net=\"?\" new-net=\"52:54:00:12:34:56\"", "success", "LibvirtResourceNet", "NIC (MAC address)"},
		{audit.TypeResource, "resrc=net reason=open net=52:54:00:12:34:56 path=\"/dev/net/tun\" rdev=74617030", "success", "LibvirtResourceNet", "host interface of domain \"tiny vm\" (" + testUUID + ")'s NIC 52:54:00:12:34:56 to tap0"},
		{audit.TypeResource, "resrc=fs reason=start old-fs=\"?\" new-fs=\"/srv\"", "success", "LibvirtResourceFs", "filesystem of"},
		{audit.TypeResource, "resrc=hostdev reason=attach bus=\"scsi\" disk=\"/dev/sdb\"", "success", "LibvirtResourceHostdev", "bus scsi, disk /dev/sdb"},
		{audit.TypeResource, "resrc=dev reason=attach bus=\"pci\" device=\"0000:00:1f.0\"", "success", "LibvirtResourceDev", "device 0000:00:1f.0"},
		{audit.TypeResource, "resrc=tpm reason=start device=\"/dev/tpm0\"", "success", "LibvirtResourceTPM", "TPM of"},
		{audit.TypeResource, "resrc=tpm-emulator reason=start device=\"/run/swtpm.sock\"", "success", "LibvirtResourceTPMEmulator", "/run/swtpm.sock"},
		{audit.TypeResource, "resrc=rng reason=start old-rng=\"?\" new-rng=\"/dev/urandom\"", "success", "LibvirtResourceRng", "RNG source"},
		{audit.TypeResource, "resrc=chardev reason=start old-chardev=\"?\" new-chardev=\"/dev/pts/3\"", "success", "LibvirtResourceChardev", "character device"},
		{audit.TypeResource, "resrc=smartcard reason=start old-smartcard=\"?\" new-smartcard=\"nss-smartcard-device\"", "success", "LibvirtResourceSmartcard", "nss-smartcard-device"},
		{audit.TypeResource, "resrc=redir reason=start bus=usb device=\"USB redir\"", "success", "LibvirtResourceRedir", "USB redir on bus usb"},
		{audit.TypeResource, "resrc=cgroup reason=allow cgroup=\"/sys/fs/cgroup/x/\" class=major category=pty maj=88 acl=rw", "success", "LibvirtResourceCgroup", "class major, category pty, maj 88, acl rw"},
		{audit.TypeResource, "resrc=shmem reason=start size=4194304 shmem=\"ivshmem0\" source=\"/dev/shm/x\"", "success", "LibvirtResourceShmem", "ivshmem0 of size 4194304 backed by /dev/shm/x"},
		{audit.TypeResource, "resrc=iothread reason=start new-iothread=2", "success", "LibvirtResourceIothread", "new-iothread=2"},
	} {
		t.Run(tc.reason+"/"+tc.res, func(t *testing.T) {
			var f model.Facts
			occ := apply(t, &f, line(tc.typ, tc.fields, tc.res))
			if occ.Reason != tc.reason || occ.Warning != (tc.res == "failed") || !strings.Contains(occ.Note, tc.note) {
				t.Errorf("got %s warning=%v %q", occ.Reason, occ.Warning, occ.Note)
			}
			if f.EventCounts[occ.Action] != 1 {
				t.Errorf("counts %v", f.EventCounts)
			}
		})
	}
}

func TestApplyFacts(t *testing.T) {
	var f model.Facts
	for _, l := range []string{
		line(audit.TypeResource, "resrc=disk reason=start old-disk=\"?\" new-disk=\"/a.img\"", "success"),
		line(audit.TypeResource, "resrc=net reason=start old-net=\"?\" new-net=\"52:54:00:12:34:56\"", "success"),
		line(audit.TypeResource, "resrc=mem reason=start old-mem=0 new-mem=65536", "success"),
		line(audit.TypeResource, "resrc=vcpu reason=start old-vcpu=0 new-vcpu=2", "success"),
		line(audit.TypeControl, "op=start reason=booted vm-pid=8", "success"),
		line(audit.TypeResource, "resrc=disk reason=attach old-disk=\"?\" new-disk=\"/b.img\"", "success"),
		line(audit.TypeResource, "resrc=disk reason=attach old-disk=\"?\" new-disk=\"/c.img\"", "failed"),
		line(audit.TypeResource, "resrc=disk reason=detach old-disk=\"/a.img\" new-disk=\"?\"", "success"),
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
	apply(t, &f, line(audit.TypeControl, "op=stop reason=destroyed vm-pid=0", "success"))
	if f.RunState != vmv1.RunStateShutdown || f.RunStateReason != "destroyed" || f.Resources.Disks != nil {
		t.Errorf("after stop: %s/%s %v", f.RunState, f.RunStateReason, f.Resources.Disks)
	}
}
