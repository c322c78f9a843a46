package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource"
	"github.com/vmevents/vmevents/test/framework/privatelibvirt"
	"github.com/vmevents/vmevents/test/framework/privatelxd"
)

// The optional sources' components (config/components/lxd, .../libvirt),
// installed together as a user's overlay would, each with its real peer
// run privately on the host and bound inside the node where the
// component's hostPaths look. Ginkgo orders top-level containers at
// random: the base is installed again at the end, and the specs assume
// nothing of the others'.
var _ = Describe("kustomize components with their real peers: LXD and libvirt", Ordered, func() {
	// The host paths the components mount, as Debian's LXD, libvirtd and
	// auditd use them.
	const (
		lxdDir     = "/var/lib/lxd"
		libvirtRun = "/run/libvirt"
		auditDir   = "/var/log/audit"
		domainUUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e31"
		// In namespace default, the default tenancy grants libvirt
		// domains named default.*.
		domain = "default.tiny"
	)
	var (
		lxd  *privatelxd.Daemon
		virt *privatelibvirt.Daemon
		ctx  = context.Background()
	)
	virsh := func(args ...string) {
		GinkgoHelper()
		out, err := privatelibvirt.Virsh(virt.URI, args...)
		Expect(err).NotTo(HaveOccurred(), out)
	}

	BeforeAll(func() {
		By("starting a private LXD, and a private libvirtd with auditd, on the host")
		var err error
		lxd, err = privatelxd.New()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(lxd.Stop)
		Expect(lxd.Start(GinkgoWriter)).To(Succeed())
		Expect(lxd.Prepare(repo)).To(Succeed())
		virt, err = privatelibvirt.Start(ctx, repo, GinkgoT().TempDir(), GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(virt.Stop)

		By("binding them where the components' hostPaths look, inside the node only")
		Expect(kube.Bind(ctx, lxd.StateDir(), lxdDir)).To(Succeed())
		Expect(kube.Bind(ctx, virt.SocketDir(), libvirtRun)).To(Succeed())
		Expect(kube.Bind(ctx, filepath.Dir(virt.AuditLog()), auditDir)).To(Succeed())

		applyVM("lxd-c1", "lxd: {instance: c1}")
		applyVM("libvirt-tiny", fmt.Sprintf("uuid: %s\n  libvirt: {domain: %s}", domainUUID, domain))
		DeferCleanup(kubectl, "delete", "vm", "lxd-c1", "libvirt-tiny", "--ignore-not-found")

		By("installing config/default with the lxd and libvirt components")
		installWith("lxd", "libvirt")
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				diagnose() // the agent with the components, before it is replaced
			}
			By("installing config/default alone again, for the specs after these")
			installWith()
			Eventually(kubectlFn(agentNS("get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "name")...)).
				Should(MatchRegexp(`^pod/\S+$`))
		})
	})

	It("lxd: tells an LXD instance's start on its VirtualMachine", func() {
		kubectl("wait", "--for=condition=MonitorConnected", "vm/lxd-c1", "--timeout=120s")
		_, err := lxd.Run("lxc", "launch", privatelxd.Image, "c1")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(lxd.Run, "lxc", "delete", "--force", "c1")
		Eventually(events("lxd-c1", "InstanceStarted")).Should(MatchRegexp(
			`^Normal\s+%s\s+LXD instance-started: instance c1 \(project default\), requested by root via unix`, kube.Name()))
	})

	It("libvirt: tells a domain's start from the audit log, its sender checked, and its pause through libvirtd", func() {
		disk := filepath.Join(virt.Dir, "boot.img")
		Expect(privatelibvirt.BootDisk(disk)).To(Succeed())
		xml := filepath.Join(virt.Dir, "tiny.xml")
		Expect(os.WriteFile(xml, []byte(privatelibvirt.DomainXML(domain, domainUUID, disk)), 0o600)).To(Succeed())
		virsh("define", xml)

		// The agent reads the audit log from where it first opened it; it
		// keeps that position on its state hostPath.
		Eventually(auditPosition).Should(Equal(inode(virt.AuditLog())))
		virsh("start", domain)
		DeferCleanup(privatelibvirt.Virsh, virt.URI, "destroy", domain)
		// Believed only if the agent found libvirtd's executable behind the
		// record's kernel-stamped pid (hostPID, SYS_PTRACE, /host/usr/sbin).
		Eventually(events("libvirt-tiny", "LibvirtStart")).Should(MatchRegexp(
			`^Normal\s+%s\s+libvirtd \(pid \d+\) as user root started domain "%s" \(%s\) \(reason: booted\)`, kube.Name(), regexp.QuoteMeta(domain), domainUUID))

		kubectl("wait", "--for=condition=MonitorConnected", "vm/libvirt-tiny", "--timeout=120s")
		virsh("suspend", domain)
		Eventually(events("libvirt-tiny", "Stop")).Should(MatchRegexp(`^Normal\s+%s\s+VM paused$`, kube.Name()))
	})
})

// applyVM creates a VirtualMachine for this node in namespace default with
// the given source lines of its spec.
func applyVM(name, spec string) {
	GinkgoHelper()
	_, err := kube.KubectlAs(context.Background(), admin, fmt.Sprintf(`apiVersion: vmevents.dev/v1alpha1
kind: VirtualMachine
metadata:
  name: %s
  namespace: default
spec:
  nodeName: %s
  %s
`, name, kube.Name(), spec), "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// events lists the Events regarding vm with reason, one per line: type,
// reporting node, note.
func events(vm, reason string) func() (string, error) {
	return kubectlFn("get", "events", "--field-selector", "involvedObject.name="+vm+",reason="+reason,
		"-o", "custom-columns=TYPE:.type,NODE:.reportingInstance,NOTE:.message", "--no-headers")
}

// auditPosition is the inode of the audit log the agent follows, from the
// position file it keeps on its state hostPath (0 while there is none).
func auditPosition() uint64 {
	b, err := os.ReadFile(filepath.Join(spoolDir, "audit.pos"))
	if err != nil {
		return 0
	}
	var p libvirtsource.Position
	if json.Unmarshal(b, &p) != nil {
		return 0
	}
	return p.Inode
}

func inode(path string) uint64 {
	GinkgoHelper()
	st, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	return st.Sys().(*syscall.Stat_t).Ino
}
