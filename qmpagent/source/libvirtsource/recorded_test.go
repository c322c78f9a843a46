package libvirtsource

import (
	"bufio"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// TestRecordedDaemon replays what a real libvirtd 9.0 (QEMU 7.2) and
// auditd wrote (ENRICHED format) for three starts:
//   - "broken": its disk is missing; the start fails before QEMU runs;
//   - "rich": a tap NIC (net open), a USB redirection over TCP, an ivshmem
//     region and an ivshmem server socket, two IOThreads; its first start
//     failed (nothing listened for the redirection), the second started,
//     then `virsh destroy`.
func TestRecordedDaemon(t *testing.T) {
	const (
		brokenUUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e22"
		richUUID   = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e23"
		by         = "libvirtd (pid 12901) as user root "
		broken     = `domain "broken" (` + brokenUUID + `)`
		rich       = `domain "rich" (` + richUUID + `)`
	)
	vm := func(name, uuid string) vmv1.VirtualMachine {
		return vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("u-" + name)},
			Spec: vmv1.VirtualMachineSpec{NodeName: "n1", UUID: uuid}}
	}
	p := publishtest.NewRecorder(vm("broken", brokenUUID), vm("rich", richUUID))
	// Shared tenancy: the recorded domains' names are not "default.*".
	a, err := NewAudit(p, AuditConfig{Path: "unused", Sender: recordedSender(t, 12901), Tenancy: source.Tenancy{Shared: true}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/libvirt-9.0-qemu-7.2.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// After the record with this serial, the domain's facts are these.
	type facts struct {
		vm, resources string
		state         vmv1.RunState
	}
	checks := map[string]facts{
		":55)": {"broken", `disks ["/tmp/h17lv/missing.img"] nics ["52:54:00:12:34:56"] vcpus 1 memory 67108864`, ""},
		":56)": {"broken", `disks [] nics []`, ""},
		":77)": {"rich", `disks [] nics []`, ""},
		":98)": {"rich", `disks ["/tmp/h17lv/boot.img"] nics ["52:54:00:12:34:57"] vcpus 1 memory 67108864`, vmv1.RunStateRunning},
		":99)": {"rich", `disks [] nics [] vcpus 1 memory 67108864`, vmv1.RunStateShutdown},
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a.Handle(context.Background(), sc.Bytes())
		for serial, want := range checks {
			if !strings.Contains(sc.Text(), serial) {
				continue
			}
			got := p.FactsOf("default", want.vm)
			if resources(got.Resources) != want.resources || got.RunState != want.state {
				t.Errorf("after %s: %s %s, want %s %s", serial, got.RunState, resources(got.Resources), want.state, want.resources)
			}
		}
	}

	type event struct{ reason, typ, note string }
	var got []event
	for _, pub := range p.Published() {
		got = append(got, event{pub.Occurrence.Reason, pub.Occurrence.EventType(), pub.Occurrence.Note})
	}
	for _, want := range []event{
		{ReasonStart, "Warning", by + "failed to start " + broken + " (reason: booted)"},
		{ReasonStart, "Warning", by + "failed to start " + rich + " (reason: booted)"},
		{"LibvirtResourceNet", "Normal", by + "opened /dev/net/tun (device number 10:200) for the NIC 52:54:00:12:34:57 of " + rich + " (reason: open)"},
		{"LibvirtResourceRedirdev", "Normal", by + "changed the USB redirection of " + rich + " (a redirected USB device on bus usb) (reason: start)"},
		{"LibvirtResourceShmem", "Normal", by + "changed the shared memory of " + rich + ": /dev/shm/shm0 of 4194304 bytes (reason: start)"},
		{"LibvirtResourceIvshmemSocket", "Normal", by + "changed the ivshmem server socket of " + rich + ": /tmp/h17lv/ivsh.sock (reason: start)"},
		{"LibvirtResourceIOThread", "Normal", by + "changed the IOThread count of " + rich + " from 0 to 2 (reason: start)"},
		{"LibvirtResourceCgroup", "Normal", by + "changed the device cgroup of " + rich + ": cgroup /sys/fs/cgroup/unified/machine/qemu-3-rich.libvirt-qemu/, class path, path /dev/kvm, device number 10:232, acl rw (reason: allow)"},
		{ReasonStart, "Normal", by + "started " + rich + " (reason: booted); QEMU pid 13777"},
		{ReasonStop, "Normal", by + "stopped " + rich + " (reason: destroyed)"},
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no Event %+v", want)
		}
	}
	for _, e := range got {
		if strings.Contains(e.note, "pid 0") || strings.Contains(e.note, "none of size") {
			t.Errorf("note says what the record does not: %+v", e)
		}
	}
	if n := len(got); n != 38 {
		t.Errorf("%d Events for 38 records", n)
	}
}
