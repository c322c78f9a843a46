package libvirtsource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Sender is who may write the audit records the audit source believes.
//
// A user-space audit record carries two kinds of fields. Those before
// msg='...' (pid=, uid=, auid=, ses=, subj=) are written by the kernel
// about the process that sent it; everything inside msg='...', exe= too,
// is whatever the sender wrote. Sending needs CAP_AUDIT_WRITE in the
// initial user namespace: not an ordinary user (EPERM), but root on the
// node and root in a container, which keeps that capability by default.
// So a record is believed for its kernel fields only: its uid= is UID, and
// either its subj= is one of Labels, or its pid= runs one of Exes.
type Sender struct {
	// UID is the uid= the kernel must have stamped (libvirtd runs as root).
	UID uint32
	// Exes are the daemons that write libvirt's records (absolute paths as
	// the agent sees them). A record's pid= must be a process whose
	// executable is one of these files (the same inode, not the same
	// name: a container's own /usr/sbin/libvirtd is another file), or a
	// process that was when an earlier record of it was checked (libvirtd
	// may exit before the agent reads its last records). Empty: no
	// process check, only Labels.
	Exes []string
	// Labels are security contexts (SELinux, AppArmor) the kernel stamps
	// as subj=; a record whose subj= is one of them is believed without
	// the process check. A label ending in '*' is a prefix. Empty: none.
	Labels []string

	// proc is the proc file system ("/proc"); a test of recorded records
	// names one that holds their long-gone libvirtd.
	proc string
}

// DefaultSender is root running libvirtd, or the modular daemons of its
// QEMU and LXC drivers.
func DefaultSender() Sender {
	return Sender{UID: 0, Exes: []string{"/usr/sbin/libvirtd", "/usr/sbin/virtqemud", "/usr/sbin/virtlxcd"}}
}

// Refusal reasons, the values of the refused metric's reason label.
const (
	refusedUID     = "uid"     // another uid= than the sender's, or none
	refusedLabel   = "subj"    // no process check, and subj= is not a label
	refusedPID     = "pid"     // no readable pid=
	refusedExe     = "exe"     // the process runs another executable
	refusedGone    = "gone"    // the process is gone (or not in the agent's PID namespace) and was never checked
	refusedUnknown = "unknown" // the process could not be looked at
)

// auditRefused counts records refused for their sender.
var auditRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "vmevents_agent_libvirt_audit_refused_total",
	Help: "libvirt audit records refused because the kernel-stamped identity of their sender is not libvirtd's (--libvirt-audit-uid, --libvirt-audit-exe, --libvirt-audit-subj), by reason (uid, subj, pid, exe, gone, unknown); none reaches a VirtualMachine.",
}, []string{"reason"})

func init() { crmetrics.Registry.MustRegister(auditRefused) }

// maxCheckedPIDs bounds the pids remembered as the sender's: libvirtd
// restarts, it does not multiply.
const maxCheckedPIDs = 64

// senderCheck checks records against a Sender. One goroutine uses it.
type senderCheck struct {
	Sender
	// checked are pids that ran one of Exes when a record of theirs was
	// checked, oldest first.
	checked []int
}

// Validate reports a sender no record could be checked against, or one
// any process would pass for.
func (s Sender) Validate() error {
	if len(s.Exes) == 0 && len(s.Labels) == 0 {
		return errors.New("the audit record sender needs an executable or a security label")
	}
	for _, e := range s.Exes {
		if !filepath.IsAbs(e) {
			return fmt.Errorf("the audit record sender's executable %q is not an absolute path", e)
		}
	}
	for _, l := range s.Labels {
		if l == "" || l == "*" {
			return fmt.Errorf("the audit record sender's security label %q would match any process", l)
		}
	}
	return nil
}

func newSenderCheck(s Sender) (*senderCheck, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.proc == "" {
		s.proc = "/proc"
	}
	return &senderCheck{Sender: s}, nil
}

// refusal says why a record whose kernel fields are header is not the
// sender's: a reason (the metric label) and what was found; "" when it is.
func (c *senderCheck) refusal(header map[string]string) (reason, found string) {
	uid, err := strconv.ParseUint(header["uid"], 10, 32)
	if err != nil || uint32(uid) != c.UID {
		return refusedUID, fmt.Sprintf("uid=%q", header["uid"])
	}
	subj := header["subj"]
	if subj != "" && c.labelled(subj) {
		return "", ""
	}
	if len(c.Exes) == 0 {
		return refusedLabel, fmt.Sprintf("subj=%q", subj)
	}
	pid, err := strconv.Atoi(header["pid"])
	if err != nil || pid <= 0 {
		return refusedPID, fmt.Sprintf("pid=%q", header["pid"])
	}
	return c.process(pid)
}

// labelled reports whether subj is one of the sender's labels.
func (c *senderCheck) labelled(subj string) bool {
	for _, l := range c.Labels {
		if prefix, ok := strings.CutSuffix(l, "*"); (ok && strings.HasPrefix(subj, prefix)) || subj == l {
			return true
		}
	}
	return false
}

// process checks that pid runs one of the sender's executables now, or did
// when last checked. The kernel's pid= is in the initial PID namespace, so
// the agent sees the right process only if it shares that namespace.
func (c *senderCheck) process(pid int) (reason, found string) {
	link := filepath.Join(c.proc, strconv.Itoa(pid), "exe")
	running, err := os.Stat(link) // the executable itself, through the magic link
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if c.wasChecked(pid) {
			return "", ""
		}
		return refusedGone, fmt.Sprintf("pid=%d, no such process", pid)
	case err != nil:
		return refusedUnknown, fmt.Sprintf("pid=%d: %v", pid, err)
	}
	for _, exe := range c.Exes {
		// Looked at every time: an upgrade replaces the file.
		if want, err := os.Stat(exe); err == nil && os.SameFile(running, want) {
			c.remember(pid)
			return "", ""
		}
	}
	c.forget(pid) // the pid was reused
	path, _ := os.Readlink(link)
	return refusedExe, fmt.Sprintf("pid=%d runs %q", pid, path)
}

func (c *senderCheck) wasChecked(pid int) bool {
	for _, p := range c.checked {
		if p == pid {
			return true
		}
	}
	return false
}

func (c *senderCheck) remember(pid int) {
	if c.wasChecked(pid) {
		return
	}
	if len(c.checked) == maxCheckedPIDs {
		c.checked = c.checked[1:]
	}
	c.checked = append(c.checked, pid)
}

func (c *senderCheck) forget(pid int) {
	for i, p := range c.checked {
		if p == pid {
			c.checked = append(c.checked[:i], c.checked[i+1:]...)
			return
		}
	}
}
