package libvirtsource

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// recordedSender is a sender whose libvirtd is the long-gone pid of
// recorded records: a proc folder where that pid runs a file standing for
// libvirtd. (A live libvirtd cannot be given the pid a recording has.)
func recordedSender(t *testing.T, pid int) *Sender {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "libvirtd")
	if err := os.WriteFile(exe, []byte("libvirtd"), 0o755); err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(dir, "proc")
	if err := os.MkdirAll(filepath.Join(proc, fmt.Sprint(pid)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(proc, fmt.Sprint(pid), "exe")); err != nil {
		t.Fatal(err)
	}
	return &Sender{UID: 0, Exes: []string{exe}, proc: proc}
}

// daemon is a real process running its own copy of a real executable, at
// path: a libvirtd for the test, or a forger's file that has its name.
type daemon struct {
	path string
	cmd  *exec.Cmd
}

func startDaemon(t *testing.T, path string) *daemon {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &daemon{path: path, cmd: exec.Command(path, "600")}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop ends the process and reaps it, so that its pid is gone.
func (d *daemon) stop() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
}

// header is the kernel's part of a record sent by pid as uid.
func header(pid, uid any) map[string]string {
	return map[string]string{"pid": fmt.Sprint(pid), "uid": fmt.Sprint(uid), "auid": "4294967295", "ses": "4294967295"}
}

func withSubj(h map[string]string, subj string) map[string]string {
	h["subj"] = subj
	return h
}

func TestSenderRefusal(t *testing.T) {
	dir := t.TempDir()
	libvirtd := startDaemon(t, filepath.Join(dir, "host", "usr", "sbin", "libvirtd"))
	// A container's root names its own file /usr/sbin/libvirtd; from the
	// host, its /proc/PID/exe may read the same: the inode tells them apart.
	imposter := startDaemon(t, filepath.Join(dir, "container", "usr", "sbin", "libvirtd"))
	gone := startDaemon(t, filepath.Join(dir, "host", "usr", "sbin", "virtqemud"))
	gone.stop()

	exes := Sender{UID: 0, Exes: []string{libvirtd.path, gone.path}}
	selinux := Sender{UID: 0, Exes: []string{libvirtd.path}, Labels: []string{"system_u:system_r:virtd_t:*"}}
	apparmor := Sender{UID: 0, Labels: []string{"libvirtd (enforce)"}}
	for _, tc := range []struct {
		name   string
		sender Sender
		header map[string]string
		want   string
	}{
		{"libvirtd as root", exes, header(libvirtd.pid(), 0), ""},
		{"libvirtd as another uid", exes, header(libvirtd.pid(), 1000), refusedUID},
		{"no uid", exes, map[string]string{"pid": fmt.Sprint(libvirtd.pid())}, refusedUID},
		{"uid not a number", exes, header(libvirtd.pid(), "root"), refusedUID},
		{"a root process that is not libvirtd (this test)", exes, header(os.Getpid(), 0), refusedExe},
		{"another file named libvirtd", exes, header(imposter.pid(), 0), refusedExe},
		{"no pid", exes, map[string]string{"uid": "0"}, refusedPID},
		{"pid not a number", exes, header("1x", 0), refusedPID},
		{"pid zero", exes, header(0, 0), refusedPID},
		{"a process gone, never checked", exes, header(gone.pid(), 0), refusedGone},
		{"the SELinux label, whatever the process", selinux, withSubj(header(os.Getpid(), 0), "system_u:system_r:virtd_t:s0-s0:c0.c1023"), ""},
		{"the SELinux label as another uid", selinux, withSubj(header(libvirtd.pid(), 1000), "system_u:system_r:virtd_t:s0-s0:c0.c1023"), refusedUID},
		{"another label: the process decides", selinux, withSubj(header(os.Getpid(), 0), "system_u:system_r:container_t:s0:c1,c2"), refusedExe},
		{"another label, libvirtd's process", selinux, withSubj(header(libvirtd.pid(), 0), "unconfined_u:unconfined_r:unconfined_t:s0"), ""},
		{"the AppArmor label", apparmor, withSubj(header(os.Getpid(), 0), "libvirtd (enforce)"), ""},
		{"a container's AppArmor label", apparmor, withSubj(header(libvirtd.pid(), 0), "docker-default (enforce)"), refusedLabel},
		{"no label, labels only", apparmor, header(libvirtd.pid(), 0), refusedLabel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newSenderCheck(tc.sender)
			if err != nil {
				t.Fatal(err)
			}
			if got, found := c.refusal(tc.header); got != tc.want {
				t.Errorf("refusal %q (%s), want %q", got, found, tc.want)
			}
		})
	}
}

// libvirtd's last records may be read after it exits: its pid is believed
// once checked, until the pid runs something else.
func TestSenderRemembersCheckedProcess(t *testing.T) {
	dir := t.TempDir()
	libvirtd := startDaemon(t, filepath.Join(dir, "libvirtd"))
	c, err := newSenderCheck(Sender{UID: 0, Exes: []string{libvirtd.path}})
	if err != nil {
		t.Fatal(err)
	}
	h := header(libvirtd.pid(), 0)
	if got, found := c.refusal(h); got != "" {
		t.Fatalf("running libvirtd refused: %s %s", got, found)
	}
	libvirtd.stop()
	if got, found := c.refusal(h); got != "" {
		t.Errorf("the last records of an exited libvirtd refused: %s %s", got, found)
	}
	// Its pid reused by another program (a proc folder: the kernel does
	// not hand out a chosen pid).
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	c.proc = filepath.Join(dir, "proc")
	pidDir := filepath.Join(c.proc, fmt.Sprint(libvirtd.pid()))
	if err := os.MkdirAll(pidDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(pidDir, "exe")); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.refusal(h); got != refusedExe {
		t.Errorf("reused pid: %q, want %q", got, refusedExe)
	}
	if err := os.RemoveAll(pidDir); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.refusal(h); got != refusedGone {
		t.Errorf("reused pid, then gone: %q, want %q (forgotten)", got, refusedGone)
	}
}

func TestSenderConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sender Sender
		ok     bool
	}{
		{"default", DefaultSender(), true},
		{"labels only", Sender{Labels: []string{"libvirtd (enforce)"}}, true},
		{"neither", Sender{}, false},
		{"relative executable", Sender{Exes: []string{"libvirtd"}}, false},
		{"a label matching anything", Sender{Labels: []string{"*"}}, false},
		{"an empty label", Sender{Exes: []string{"/usr/sbin/libvirtd"}, Labels: []string{""}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newSenderCheck(tc.sender); (err == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// Records that claim exe="/usr/sbin/libvirtd" in msg='...' while the kernel
// says another process sent them reach no VirtualMachine; they are counted.
// The forged lines are as auditd logged records a root process sent.
func TestAuditRefusesForgedRecords(t *testing.T) {
	dir := t.TempDir()
	libvirtd := startDaemon(t, filepath.Join(dir, "libvirtd"))
	p := publishtest.NewRecorder(vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "tiny", UID: "u1"},
		Spec:       vmv1.VirtualMachineSpec{NodeName: "n1", UUID: testUUID},
	})
	a, err := NewAudit(p, AuditConfig{Path: "unused", Sender: &Sender{UID: 0, Exes: []string{libvirtd.path}}, Tenancy: source.Tenancy{Shared: true}})
	if err != nil {
		t.Fatal(err)
	}
	from := func(pid, uid int, l string) string {
		return strings.Replace(l, "pid=7616 uid=0 ", fmt.Sprintf("pid=%d uid=%d ", pid, uid), 1)
	}
	start := line(audit.TypeControl, "op=start reason=booted", "vm-pid=8", "success")
	stop := line(audit.TypeControl, "op=stop reason=crashed", "vm-pid=0", "success")
	me := os.Getpid()
	for _, tc := range []struct {
		name, line, reason string
	}{
		{"exe=libvirtd in msg, sent by another root process", from(me, 0, stop), refusedExe},
		{"libvirtd's pid, another uid", from(libvirtd.pid(), 1000, stop), refusedUID},
		{"pid= and uid= written in msg", from(me, 0, strings.Replace(stop, "vm-pid=0", fmt.Sprintf("vm-pid=0 pid=%d uid=0", libvirtd.pid()), 1)), refusedExe},
		// A newline in the sent text is logged as a space: a whole record
		// header with libvirtd's pid stays inside the forger's msg='...'.
		{"a record header in msg", from(me, 0, strings.Replace(stop, " exe=", fmt.Sprintf(" type=VIRT_CONTROL msg=audit(1.0:1): pid=%d uid=0 auid=4294967295 ses=4294967295 exe=", libvirtd.pid()), 1)), refusedExe},
		// auditd passes 0x1D, its ENRICHED separator, through: the forger's
		// fields after it (the kernel's closing quote, then auditd's) must
		// not count.
		{"enriched fields in msg", from(me, 0, strings.Replace(stop, "'\x1d", fmt.Sprintf("'\x1dUID=\"root\" pid=%d'\x1d", libvirtd.pid()), 1)), refusedExe},
	} {
		before := testutil.ToFloat64(auditRefused.WithLabelValues(tc.reason))
		a.Handle(context.Background(), []byte(tc.line))
		if got := testutil.ToFloat64(auditRefused.WithLabelValues(tc.reason)) - before; got != 1 {
			t.Errorf("%s: refused %v times as %q, want once", tc.name, got, tc.reason)
		}
		if occs := p.Occurrences(); len(occs) != 0 {
			t.Errorf("%s: reached the VM: %+v", tc.name, occs)
		}
		if f := p.FactsOf("default", "tiny"); f.RunState != "" {
			t.Errorf("%s: facts changed: %+v", tc.name, f)
		}
	}
	a.Handle(context.Background(), []byte(from(libvirtd.pid(), 0, start)))
	if occs := p.Occurrences(); len(occs) != 1 || occs[0].Reason != ReasonStart {
		t.Errorf("libvirtd's own record: %+v", occs)
	}
	if f := p.FactsOf("default", "tiny"); f.RunState != vmv1.RunStateRunning {
		t.Errorf("libvirtd's own record: run state %q", f.RunState)
	}
}
