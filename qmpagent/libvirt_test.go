package qmpagent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// libvirtNode is the node of the libvirt specs' own agent, so the suite's
// agent leaves their VMs alone.
const libvirtNode = "node-libvirt"

const libvirtPackages = "apt-get install -y --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients auditd qemu-system-x86"

// startLibvirtAgent starts an agent for libvirtNode with the given sources
// and returns the function that stops it.
func startLibvirtAgent(sources ...sourceFor) func() {
	return runAgent(qmpagent.Config{NodeName: libvirtNode}, sources...)
}

// privateLibvirt runs hack/libvirt/ns.sh (libvirtd + auditd in a private
// mount namespace) and stops it, and kernel auditing, at the end.
func privateLibvirt() (dir, uri string) {
	for _, prog := range []string{"libvirtd", "virsh", "auditd", "auditctl", "unshare", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(prog); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + prog); err2 != nil {
				Fail(prog + " is missing; install it with: " + libvirtPackages)
			}
		}
	}
	dir = GinkgoT().TempDir()
	script, err := filepath.Abs("../hack/libvirt/ns.sh")
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command("unshare", "-m", script, dir)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "audit", "audit.log"))
			GinkgoWriter.Printf("audit.log:\n%s\n", b)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = exec.Command("auditctl", "-e", "0").Run()
	})
	uri = "qemu:///system?socket=" + filepath.Join(dir, "run", "libvirt-sock")
	Eventually(func() error { return virsh(uri, "version") }).Should(Succeed())
	Eventually(func() error { _, err := os.Stat(filepath.Join(dir, "audit", "audit.log")); return err }).Should(Succeed())
	return dir, uri
}

func virsh(uri string, args ...string) error {
	out, err := exec.Command("virsh", append([]string{"-c", uri}, args...)...).CombinedOutput()
	GinkgoWriter.Printf("virsh %v: %s\n", args, out)
	return err
}

// domainXML is a 64 MiB domain booting a boot sector that loops; ACPI lets
// a disk be hot-plugged on its PCI bus.
func domainXML(name, uuid, disk string) string {
	return `<domain type='qemu'><name>` + name + `</name><uuid>` + uuid + `</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='` + disk + `'/><target dev='hda' bus='ide'/></disk>
<interface type='ethernet'><mac address='52:54:00:12:34:56'/><model type='e1000'/></interface>
</devices></domain>`
}

// libvirtEvent matches an Event of the libvirt agent as event matches the
// suite agent's: reason, type and note.
func libvirtEvent(reason, typ string, note gtypes.GomegaMatcher) gtypes.GomegaMatcher {
	return And(HaveField("Reason", reason), HaveField("Type", typ), HaveField("Note", note),
		HaveField("ReportingController", "vmevents.dev/agent"), HaveField("ReportingInstance", libvirtNode))
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
		boot := make([]byte, 512)
		boot[0], boot[1], boot[510], boot[511] = 0xEB, 0xFE, 0x55, 0xAA // jmp $
		Expect(os.WriteFile(filepath.Join(dir, "boot.img"), boot, 0o600)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "extra.img"), make([]byte, 1<<20), 0o600)).To(Succeed())

		// Matched by domain name ("tiny vm" is hex-encoded in the records),
		// and by UUID only.
		vm := libvirtVM("libvirt-tiny", "", "tiny vm")
		bad := libvirtVM("libvirt-broken", badUUID, "some other name")
		stop := startLibvirtAgent(
			func(p source.Publisher) (source.Source, error) {
				return libvirtsource.NewAudit(p, libvirtsource.AuditConfig{
					Path: filepath.Join(dir, "audit", "audit.log"), StatePath: filepath.Join(dir, "audit.pos"), FromStart: true,
				})
			},
			func(p source.Publisher) (source.Source, error) {
				return libvirtsource.NewMonitor(p, libvirtsource.MonitorConfig{URI: uri, AuditOn: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Rescan: 200 * time.Millisecond})
			},
		)
		DeferCleanup(stop)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				_ = pprof.Lookup("goroutine").WriteTo(GinkgoWriter, 1)
			}
		})

		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "tiny.xml"), domainXML("tiny vm", uuid, filepath.Join(dir, "boot.img"))))).To(Succeed())
		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "broken.xml"), domainXML("broken", badUUID, filepath.Join(dir, "missing.img"))))).To(Succeed())
		Expect(virsh(uri, "start", "broken")).NotTo(Succeed())
		Eventually(eventsOf(bad)).Should(ContainElement(And(HaveField("Reason", "LibvirtStart"), HaveField("Type", "Warning"),
			HaveField("Note", ContainSubstring(`failed to start domain "broken"`)))))

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
		Eventually(eventsOf(vm)).Should(ContainElement(And(HaveField("Reason", "LibvirtStop"), HaveField("Note", ContainSubstring("(reason: destroyed)")))))
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateShutdown), HaveField("RunStateReason", "destroyed")))

		Expect(virsh(uri, "start", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(And(HaveField("EventCounts", HaveKeyWithValue("libvirt-start", int64(2))),
			HaveField("RunState", vmv1.RunStateRunning)))
		// Monitor events still arrive after the restart.
		Expect(virsh(uri, "suspend", "tiny vm")).To(Succeed())
		Eventually(getVM(vm)).Should(HaveField("EventCounts", HaveKeyWithValue("STOP", BeNumerically(">=", 2))))
		Expect(virsh(uri, "destroy", "tiny vm")).To(Succeed())
	})
})
