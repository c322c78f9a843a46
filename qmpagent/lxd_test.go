package qmpagent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/lxdsource"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// lxdPackages is what the LXD specs need installed.
const lxdPackages = "apt-get install -y --no-install-recommends lxd lxd-client busybox-static"

// The LXD specs run a private LXD daemon (its own LXD_DIR under a temp dir,
// never the system's) with an offline busybox image, and an agent for a
// node of their own following it.
var _ = Describe("LXD event source", Ordered, func() {
	const lxdNode = "node-lxd"
	var (
		dir    string
		envv   []string
		daemon *exec.Cmd
		exited chan struct{}
		vm     *vmv1.VirtualMachine
		vmP    *vmv1.VirtualMachine
	)

	run := func(name string, args ...string) string {
		GinkgoHelper()
		cmd := exec.Command(name, args...)
		cmd.Env = envv
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s %v: %s", name, args, out)
		return string(out)
	}
	lxc := func(args ...string) string { GinkgoHelper(); return run("lxc", args...) }
	startLXD := func() {
		GinkgoHelper()
		daemon = exec.Command("lxd", "--group", "root", "--logfile", filepath.Join(dir, "lxd.log"))
		daemon.Env = envv
		daemon.Stdout, daemon.Stderr = GinkgoWriter, GinkgoWriter
		Expect(daemon.Start()).To(Succeed())
		done := make(chan struct{})
		go func(c *exec.Cmd) { _ = c.Wait(); close(done) }(daemon)
		exited = done
		run("lxd", "waitready", "--timeout=60")
	}

	BeforeAll(func() {
		for _, bin := range []string{"lxd", "lxc", "busybox"} {
			if _, err := exec.LookPath(bin); err != nil {
				Fail(bin + " is not installed; the LXD specs need a real LXD: " + lxdPackages)
			}
		}
		var err error
		dir, err = os.MkdirTemp("", "lxd")
		Expect(err).NotTo(HaveOccurred())
		envv = append(os.Environ(), "LXD_DIR="+filepath.Join(dir, "state"), "LXD_CONF="+filepath.Join(dir, "conf"))
		// Containers run as remapped uids: they must be able to
		// traverse to their rootfs (MkdirTemp makes 0700).
		Expect(os.Chmod(dir, 0o711)).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(dir, "state"), 0o711)).To(Succeed())
		startLXD()
		DeferCleanup(func() {
			cmd := exec.Command("lxd", "shutdown", "--timeout=60")
			cmd.Env = envv
			_ = cmd.Run()
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = daemon.Process.Kill()
				<-exited
			}
			_ = os.RemoveAll(dir)
		})
		lxc("storage", "create", "default", "dir")
		lxc("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default")
		image := filepath.Join(dir, "busybox.tar.gz")
		run("../hack/lxd/busybox-image.sh", image)
		lxc("image", "import", image, "--alias", "bb")
		// A project sharing the default project's images and profiles.
		lxc("project", "create", "p2", "-c", "features.images=false", "-c", "features.profiles=false")

		vm = testenv.VirtualMachine("default", "lxd-c1", vmv1.VirtualMachineSpec{NodeName: lxdNode, LXD: &vmv1.LXDSource{Instance: "c1"}})
		vmP = testenv.VirtualMachine("default", "lxd-p2", vmv1.VirtualMachineSpec{NodeName: lxdNode, LXD: &vmv1.LXDSource{Instance: "c1", Project: "p2"}})
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		Expect(env.Client.Create(ctx, vmP)).To(Succeed())

		socket := filepath.Join(dir, "state", "unix.socket")
		DeferCleanup(runAgent(qmpagent.Config{NodeName: lxdNode}, func(p source.Publisher) (source.Source, error) {
			return lxdsource.New(p, lxdsource.Config{
				Socket: socket, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
				RefreshInterval: 200 * time.Millisecond, Log: ctrl.Log.WithName("lxd"),
			}), nil
		}))
		Eventually(getVM(vm)).Should(HaveField("Monitor", And(
			HaveField("State", vmv1.MonitorConnected), HaveField("Source", "lxd"), HaveField("Endpoint", socket))))
	})

	// reasons lists the reasons of the Events regarding the VM.
	reasons := func(v *vmv1.VirtualMachine) func() []string {
		return func() []string {
			var out []string
			for _, e := range eventsOf(v)() {
				out = append(out, e.Reason)
			}
			return out
		}
	}
	event := func(v *vmv1.VirtualMachine, reason string) func() *eventsv1.Event {
		return func() *eventsv1.Event {
			for _, e := range eventsOf(v)() {
				if e.Reason == reason {
					return &e
				}
			}
			return nil
		}
	}
	counts := func(v *vmv1.VirtualMachine, action string) func() int64 {
		return func() int64 { return getVM(v)().EventCounts[action] }
	}

	It("tells a container's life on its VirtualMachine", func() {
		lxc("launch", "bb", "c1")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("RunStateReason", "Running")))
		Eventually(reasons(vm)).Should(ContainElements("InstanceCreated", "InstanceStarted"))
		Expect(*event(vm, "InstanceStarted")()).To(And(
			HaveField("Action", "instance-started"), HaveField("Type", "Normal"),
			HaveField("Note", ContainSubstring("instance c1 (project default), requested by root via unix"))))

		lxc("pause", "c1")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStatePaused), HaveField("RunStateReason", "Frozen")))
		Eventually(reasons(vm)).Should(ContainElement("InstancePaused"))
		lxc("start", "c1") // resumes
		Eventually(getVM(vm)).Should(HaveField("RunState", vmv1.RunStateRunning))
		Eventually(reasons(vm)).Should(ContainElement("InstanceResumed"))

		lxc("restart", "c1")
		Eventually(counts(vm, "instance-restarted")).Should(BeEquivalentTo(1))
		lxc("exec", "c1", "--", "true")
		Eventually(event(vm, "InstanceExec")).Should(HaveField("Note", ContainSubstring(`command=["true"]`)))
		lxc("snapshot", "c1", "s0")
		Eventually(event(vm, "InstanceSnapshotCreated")).Should(HaveField("Note", ContainSubstring("snapshots/s0")))

		// A failed operation is a Warning with LXD's words.
		cmd := exec.Command("lxc", "start", "c1")
		cmd.Env = envv
		Expect(cmd.Run()).NotTo(Succeed())
		Eventually(event(vm, "OperationFailed")).Should(And(HaveField("Type", "Warning"),
			HaveField("Note", ContainSubstring("The instance is already running"))))

		// The instance of the same name in another project is another VM's.
		lxc("launch", "bb", "c1", "--project", "p2")
		Eventually(getVM(vmP)).Should(HaveField("RunState", vmv1.RunStateRunning))
		Eventually(reasons(vmP)).Should(ContainElement("InstanceStarted"))
		Expect(getVM(vm)().EventCounts["instance-created"]).To(BeEquivalentTo(1))
	})

	It("reconnects when LXD restarts and loses nothing after", func() {
		before := getVM(vm)().Monitor.Reconnects
		Expect(daemon.Process.Signal(syscall.SIGTERM)).To(Succeed()) // instances keep running
		Eventually(exited).Should(BeClosed())
		Eventually(getVM(vm)).Should(HaveField("Monitor", And(
			HaveField("State", vmv1.MonitorDisconnected), HaveField("LastError", Not(BeEmpty())))))
		startLXD()
		Eventually(getVM(vm)).Should(HaveField("Monitor", And(
			HaveField("State", vmv1.MonitorConnected), HaveField("Reconnects", BeNumerically(">", before)))))

		execs := getVM(vm)().EventCounts["instance-exec"]
		for range 3 {
			lxc("exec", "c1", "--", "true")
		}
		Eventually(counts(vm, "instance-exec")).Should(Equal(execs + 3))
	})

	It("follows a renamed instance and tells its end", func() {
		lxc("stop", "c1")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateShutdown), HaveField("RunStateReason", "Stopped")))
		lxc("rename", "c1", "c1b")
		Eventually(event(vm, "InstanceRenamed")).Should(HaveField("Note", ContainSubstring("renamed from c1")))
		lxc("start", "c1b")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("Monitor.VMName", "c1b")))
		Eventually(counts(vm, "instance-started")).Should(BeEquivalentTo(2))
		lxc("stop", "c1b", "--force")
		Eventually(counts(vm, "instance-stopped")).Should(BeEquivalentTo(1))
		lxc("delete", "c1b")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateShutdown), HaveField("RunStateReason", "Deleted")))
		Eventually(event(vm, "InstanceDeleted")).Should(HaveField("Note", ContainSubstring("follows it under its new name")))
	})

	It("tells what concerns no instance on the Node", func() {
		lxc("project", "create", "p3")
		lxc("profile", "create", "prof1")
		lxc("storage", "create", "pool2", "dir")
		nodeReasons := func() []string {
			var list eventsv1.EventList
			Expect(env.Client.List(context.Background(), &list)).To(Succeed())
			var out []string
			for _, e := range list.Items {
				if e.Regarding.Kind == "Node" && e.Regarding.Name == lxdNode {
					out = append(out, e.Reason)
				}
			}
			return out
		}
		Eventually(nodeReasons).Should(ContainElements("ProjectCreated", "ProfileCreated", "StoragePoolCreated"))
	})
})
