package qmpagent_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource"
	"github.com/vmevents/vmevents/test/framework/privatelibvirt"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// libvirtNode is the node of the libvirt specs' own agent, so the suite's
// agent leaves their VMs alone.
const libvirtNode = "node-libvirt"

// libvirtSources are the audit log source (from the log's start, so that
// each agent reads every record) and the libvirtd source of the private
// libvirtd, the latter with discovery if given.
func libvirtSources(dir, uri string, discovery *libvirtsource.Discovery) []sourceFor {
	return []sourceFor{
		func(p source.Publisher) (source.Source, error) {
			return libvirtsource.NewAudit(p, libvirtsource.AuditConfig{
				Path: filepath.Join(dir, "audit", "audit.log"), StatePath: filepath.Join(GinkgoT().TempDir(), "audit.pos"), FromStart: true,
				// Not about tenancy: the recorded and defined domains'
				// names are not "default.*".
				Tenancy: source.Tenancy{Shared: true},
			})
		},
		func(p source.Publisher) (source.Source, error) {
			return libvirtsource.NewMonitor(p, libvirtsource.MonitorConfig{URI: uri, AuditOn: true, Discovery: discovery,
				MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Rescan: 200 * time.Millisecond,
				Tenancy: source.Tenancy{Shared: true}})
		},
	}
}

// startLibvirtAgent starts an agent for libvirtNode with the given sources
// and returns the function that stops it.
func startLibvirtAgent(sources ...sourceFor) func() {
	return runAgent(qmpagent.Config{NodeName: libvirtNode}, sources...)
}

// privateLibvirt runs a private libvirtd and auditd (hack/libvirt/ns.sh)
// and stops them, and kernel auditing, at the end.
func privateLibvirt() (dir, uri string) {
	d, err := privatelibvirt.Start(context.Background(), testenv.RepoRoot(), GinkgoT().TempDir(), GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			b, _ := os.ReadFile(d.AuditLog())
			GinkgoWriter.Printf("audit.log:\n%s\n", b)
		}
		d.Stop()
	})
	return d.Dir, d.URI
}

func virsh(uri string, args ...string) error {
	out, err := privatelibvirt.Virsh(uri, args...)
	GinkgoWriter.Printf("virsh %v: %s\n", args, out)
	return err
}

// libvirtEvent matches an Event of the libvirt agent as event matches the
// suite agent's: reason, type and note.
func libvirtEvent(reason, typ string, note gtypes.GomegaMatcher) gtypes.GomegaMatcher {
	return And(HaveField("Reason", reason), HaveField("Type", typ), HaveField("Note", note),
		HaveField("ReportingController", "vmevents.dev/agent"), HaveField("ReportingInstance", libvirtNode))
}

// noDevices matches a status that lists no vCPUs, memory, disks or NICs.
func noDevices() gtypes.GomegaMatcher {
	return HaveField("Resources", Or(BeNil(), And(HaveField("VCPUs", BeNil()), HaveField("MemoryBytes", BeNil()),
		HaveField("Disks", BeEmpty()), HaveField("NICs", BeEmpty()))))
}

func writeFile(path, content string) string {
	Expect(os.WriteFile(path, []byte(content), 0o600)).To(Succeed())
	return path
}

func libvirtVM(name, uuid, domain string) *vmv1.VirtualMachine {
	vm := testenv.VirtualMachine("default", name, vmv1.VirtualMachineSpec{
		NodeName: libvirtNode, UUID: uuid, Libvirt: &vmv1.LibvirtSource{Domain: domain},
	})
	Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
	return vm
}

var _ = Describe("libvirt", Ordered, func() {
	var dir, uri string
	BeforeAll(func() { dir, uri = privateLibvirt() })

	It("publishes audit records and QEMU monitor events of a real libvirtd", func() {
		const uuid = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e21"
		const badUUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e22"
		Expect(privatelibvirt.BootDisk(filepath.Join(dir, "boot.img"))).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "extra.img"), make([]byte, 1<<20), 0o600)).To(Succeed())

		// Matched by domain name ("tiny vm" is hex-encoded in the records),
		// and by UUID only.
		vm := libvirtVM("libvirt-tiny", "", "tiny vm")
		bad := libvirtVM("libvirt-broken", badUUID, "some other name")
		stop := startLibvirtAgent(libvirtSources(dir, uri, nil)...)
		DeferCleanup(stop)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				_ = pprof.Lookup("goroutine").WriteTo(GinkgoWriter, 1)
			}
		})

		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "tiny.xml"), privatelibvirt.DomainXML("tiny vm", uuid, filepath.Join(dir, "boot.img"))))).To(Succeed())
		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "broken.xml"), privatelibvirt.DomainXML("broken", badUUID, filepath.Join(dir, "missing.img"))))).To(Succeed())
		// Its disk is missing: libvirt audits every device (reason=start)
		// and then the failed start. The domain never ran: no devices.
		Expect(virsh(uri, "start", "broken")).NotTo(Succeed())
		Eventually(eventsOf(bad)).Should(ContainElements(
			libvirtEvent("LibvirtStart", "Warning", MatchRegexp(`^libvirtd \(pid \d+\) as user root failed to start domain "broken" \(`+badUUID+`\) \(reason: booted\)$`)),
			libvirtEvent("LibvirtResourceDisk", "Normal", HaveSuffix("from none to "+filepath.Join(dir, "missing.img")+" (reason: start)")),
		))
		Eventually(getVM(bad)).Should(And(
			HaveField("EventCounts", And(HaveKeyWithValue("libvirt-start", int64(1)), HaveKey("libvirt-resource-disk"),
				HaveKey("libvirt-resource-net"), HaveKey("libvirt-resource-vcpu"), HaveKey("libvirt-resource-mem"))),
			noDevices(), HaveField("RunState", BeEmpty()),
		))

		Expect(virsh(uri, "start", "tiny vm")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElements(
			And(HaveField("Reason", "LibvirtStart"), HaveField("Type", "Normal"), HaveField("Note", ContainSubstring(`started domain "tiny vm" (`+uuid+`) (reason: booted)`))),
			And(HaveField("Reason", "LibvirtMachineID"), HaveField("Note", ContainSubstring("security model dac"))),
			And(HaveField("Reason", "LibvirtResourceDisk"), HaveField("Note", ContainSubstring("boot.img"))),
			And(HaveField("Reason", "LibvirtResourceCgroup")),
		))
		Eventually(getVM(vm)).Should(And(
			HaveField("Resources.VCPUs", HaveValue(BeEquivalentTo(1))),
			HaveField("Resources.MemoryBytes", HaveValue(BeEquivalentTo(64<<20))),
			HaveField("Resources.Disks", ConsistOf(filepath.Join(dir, "boot.img"))),
			HaveField("Resources.NICs", ConsistOf("52:54:00:12:34:56")),
			HaveField("RunState", vmv1.RunStateRunning),
			HaveField("Monitor.Source", "libvirt"), HaveField("Monitor.State", vmv1.MonitorConnected),
		))

		Expect(virsh(uri, "attach-disk", "tiny vm", filepath.Join(dir, "extra.img"), "vdb", "--targetbus", "virtio")).To(Succeed())
		Eventually(getVM(vm)).Should(HaveField("Resources.Disks", ConsistOf(filepath.Join(dir, "boot.img"), filepath.Join(dir, "extra.img"))))
		Eventually(eventsOf(vm)).Should(ContainElement(And(HaveField("Reason", "LibvirtResourceDisk"),
			HaveField("Note", ContainSubstring("from none to "+filepath.Join(dir, "extra.img")+" (reason: attach)")))))

		// Not audited: through libvirtd's QEMU monitor events, the same
		// Events as from a QMP socket (see qemu_events_test.go).
		Expect(virsh(uri, "suspend", "tiny vm")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("Stop", "Normal", Equal("VM paused"))))
		Expect(virsh(uri, "resume", "tiny vm")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("Resume", "Normal", Equal("VM resumed"))))
		Expect(virsh(uri, "reset", "tiny vm")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("Reset", "Normal", Equal("VM reset (host-initiated, host-qmp-system-reset)"))))
		Eventually(getVM(vm)).Should(And(HaveField("EventCounts", And(HaveKey("STOP"), HaveKey("RESUME"), HaveKey("RESET"))),
			HaveField("LastReset", Not(BeNil()))))

		Expect(virsh(uri, "destroy", "tiny vm")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("LibvirtStop", "Normal", HaveSuffix(`stopped domain "tiny vm" (`+uuid+`) (reason: destroyed)`))))
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateShutdown), HaveField("RunStateReason", "destroyed")))

		Expect(virsh(uri, "start", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(And(HaveField("EventCounts", HaveKeyWithValue("libvirt-start", int64(2))),
			HaveField("RunState", vmv1.RunStateRunning)))
		// Monitor events still arrive after the restart.
		Expect(virsh(uri, "suspend", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(HaveField("EventCounts", HaveKeyWithValue("STOP", BeNumerically(">=", 2))))
		Expect(virsh(uri, "destroy", "tiny vm")).To(Succeed())
	})

	It("tells a USB redirection, shared memory, a tap device, IOThreads, device hot-plug and a reboot as libvirt does", func() {
		const uuid = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e23"
		// The redirected USB device connects to this listener.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ln.Close)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				DeferCleanup(c.Close)
			}
		}()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		Expect(os.WriteFile(filepath.Join(dir, "usb.img"), make([]byte, 1<<20), 0o600)).To(Succeed())
		DeferCleanup(func() { _ = os.Remove("/dev/shm/vmevents-shm0") })
		// Matched by UUID only: libvirt's reboot event is then the one
		// that tells a reset (no QEMU monitor subscription).
		vm := libvirtVM("libvirt-rich", uuid, "no such domain")
		stop := startLibvirtAgent(libvirtSources(dir, uri, nil)...)
		DeferCleanup(stop)

		xml := strings.Replace(privatelibvirt.DomainXML("rich", uuid, filepath.Join(dir, "boot.img")), "</devices>", `<controller type='usb' model='qemu-xhci'/>
<redirdev bus='usb' type='tcp'><source mode='connect' host='127.0.0.1' service='`+port+`'/></redirdev>
<shmem name='vmevents-shm0'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>
</devices>`, 1)
		xml = strings.Replace(xml, "<vcpu>1</vcpu>", "<vcpu>1</vcpu><iothreads>2</iothreads>", 1)
		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "rich.xml"), xml))).To(Succeed())
		Expect(virsh(uri, "start", "rich")).To(Succeed())
		dom := `domain "rich" (` + uuid + `)`
		by := `^libvirtd \(pid \d+\) as user root `
		Eventually(eventsOf(vm)).Should(ContainElements(
			libvirtEvent("LibvirtResourceRedirdev", "Normal", MatchRegexp(by+regexp.QuoteMeta("changed the USB redirection of "+dom+" (a redirected USB device on bus usb) (reason: start)")+"$")),
			libvirtEvent("LibvirtResourceShmem", "Normal", MatchRegexp(by+regexp.QuoteMeta("changed the shared memory of "+dom+": /dev/shm/vmevents-shm0 of 4194304 bytes (reason: start)")+"$")),
			libvirtEvent("LibvirtResourceNet", "Normal", MatchRegexp(by+regexp.QuoteMeta("opened /dev/net/tun (device number 10:200) for the NIC 52:54:00:12:34:56 of "+dom+" (reason: open)")+"$")),
			libvirtEvent("LibvirtResourceIOThread", "Normal", MatchRegexp(by+regexp.QuoteMeta("changed the IOThread count of "+dom+" from 0 to 2 (reason: start)")+"$")),
			libvirtEvent("LibvirtStart", "Normal", MatchRegexp(by+regexp.QuoteMeta("started "+dom+" (reason: booted); QEMU pid ")+`\d+$`)),
		))
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning),
			HaveField("Resources.Disks", ConsistOf(filepath.Join(dir, "boot.img"))), HaveField("Resources.NICs", ConsistOf("52:54:00:12:34:56")),
			HaveField("EventCounts", And(HaveKey("libvirt-resource-redirdev"), HaveKey("libvirt-resource-shmem"), HaveKey("libvirt-resource-iothread"))),
		))

		// A USB disk: its unplug needs nothing of the guest.
		Expect(virsh(uri, "attach-disk", "rich", filepath.Join(dir, "usb.img"), "sdb", "--targetbus", "usb")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("LibvirtDomainDeviceAdded", "Normal", Equal(`libvirt: device "usb-disk1" added to domain "rich"`))))
		Eventually(getVM(vm)).Should(HaveField("Resources.Disks", ConsistOf(filepath.Join(dir, "boot.img"), filepath.Join(dir, "usb.img"))))
		Expect(virsh(uri, "detach-disk", "rich", "sdb")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("LibvirtDomainDeviceRemoved", "Normal", Equal(`libvirt: device "usb-disk1" removed from domain "rich"`))))
		Eventually(getVM(vm)).Should(HaveField("Resources.Disks", ConsistOf(filepath.Join(dir, "boot.img"))))

		Expect(virsh(uri, "reset", "rich")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("LibvirtDomainReboot", "Normal", Equal(`libvirt: domain "rich" was reset`))))
		Eventually(getVM(vm)).Should(HaveField("LastReset", Not(BeNil())))

		Expect(virsh(uri, "destroy", "rich")).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(libvirtEvent("LibvirtStop", "Normal", MatchRegexp(by+regexp.QuoteMeta("stopped "+dom+" (reason: destroyed)")+"$"))))
	})

	It("reconnects to a restarted libvirtd, re-syncs and misses no event after it", func() {
		const uuid = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e21"
		vm := &vmv1.VirtualMachine{}
		Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "libvirt-tiny"}, vm)).To(Succeed())
		stop := startLibvirtAgent(libvirtSources(dir, uri, nil)...)
		DeferCleanup(stop)
		Expect(virsh(uri, "start", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("Monitor.State", vmv1.MonitorConnected)))
		before := getVM(vm)().Monitor.Reconnects

		// libvirtd goes down and stays down (hold) under the running domain.
		hold := writeFile(filepath.Join(dir, "libvirtd.hold"), "")
		pid, err := os.ReadFile(filepath.Join(dir, "libvirtd.pid"))
		Expect(err).NotTo(HaveOccurred())
		n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
		Expect(err).NotTo(HaveOccurred())
		Expect(syscall.Kill(n, syscall.SIGTERM)).To(Succeed())
		Eventually(getVM(vm)).Should(And(HaveField("Monitor.State", vmv1.MonitorDisconnected), HaveField("Monitor.Connected", BeFalse())))
		down := time.Now()

		Expect(os.Remove(hold)).To(Succeed())
		Eventually(func() error { return virsh(uri, "domstate", "tiny vm") }).Should(Succeed())
		Eventually(getVM(vm)).Should(And(HaveField("Monitor.State", vmv1.MonitorConnected), HaveField("Monitor.Connected", BeTrue()),
			HaveField("Monitor.Reconnects", BeNumerically(">", before)), HaveField("Monitor.Since.Time", BeTemporally(">=", down.Truncate(time.Second))),
			HaveField("Monitor.VMUUID", uuid), HaveField("RunState", vmv1.RunStateRunning)))

		// The first event after the restart arrives.
		stops := getVM(vm)().EventCounts["STOP"]
		Expect(virsh(uri, "suspend", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(And(HaveField("EventCounts", HaveKeyWithValue("STOP", stops+1)), HaveField("RunState", vmv1.RunStatePaused)))
		Expect(virsh(uri, "destroy", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(HaveField("RunState", vmv1.RunStateShutdown))
	})

	It("creates a VirtualMachine for a real domain no VirtualMachine names, and follows it", func() {
		const uuid = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e25"
		stop := startLibvirtAgent(libvirtSources(dir, uri, &libvirtsource.Discovery{Namespace: "default"})...)
		DeferCleanup(stop)
		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "found.xml"), privatelibvirt.DomainXML("found", uuid, filepath.Join(dir, "boot.img"))))).To(Succeed())
		Expect(virsh(uri, "start", "found")).To(Succeed())
		DeferCleanup(func() { _ = virsh(uri, "destroy", "found") })
		found := func() []vmv1.VirtualMachine {
			var list vmv1.VirtualMachineList
			Expect(env.Client.List(context.Background(), &list, client.InNamespace("default"))).To(Succeed())
			var out []vmv1.VirtualMachine
			for _, vm := range list.Items {
				if vm.Spec.Libvirt != nil && vm.Spec.Libvirt.Domain == "found" {
					out = append(out, vm)
				}
			}
			return out
		}
		Eventually(found).Should(ConsistOf(And(HaveField("Spec.NodeName", libvirtNode), HaveField("Spec.UUID", uuid))))
		vm := found()[0]
		Eventually(getVM(&vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("Monitor.VMName", "found")))
		Expect(virsh(uri, "suspend", "found")).To(Succeed())
		Eventually(eventsOf(&vm)).Should(ContainElement(libvirtEvent("Stop", "Normal", Equal("VM paused"))))
	})
})
