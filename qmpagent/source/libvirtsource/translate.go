package libvirtsource

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
)

// Event reasons of audit records.
const (
	ReasonStart     = "LibvirtStart"
	ReasonStop      = "LibvirtStop"
	ReasonInit      = "LibvirtInit"
	ReasonMachineID = "LibvirtMachineID"
)

// maxDevices bounds the disks and NICs kept in the facts.
const maxDevices = 64

// Apply records what an audit record of libvirt says in f and returns the
// Occurrence to publish. The record must be a VIRT_* one.
func Apply(f *model.Facts, r *audit.Record) model.Occurrence {
	failed := r.Get("res") == "failed"
	occ := model.Occurrence{Time: r.Time, Warning: failed}
	if r.Time.After(f.Monitor.LastEventTime) {
		f.Monitor.LastEventTime = r.Time
	}
	dom := domainName(r)
	switch r.Type {
	case audit.TypeControl:
		occ = control(f, r, dom, failed, occ)
	case audit.TypeMachineID:
		occ.Action, occ.Reason = "libvirt-machine-id", ReasonMachineID
		occ.Note = fmt.Sprintf("%s labelled %s with security model %s: process context %s, image context %s",
			who(r), dom, v(r, "model"), v(r, "vm-ctx"), v(r, "img-ctx"))
		if failed {
			occ.Note = fmt.Sprintf("%s failed to label %s with security model %s", who(r), dom, v(r, "model"))
		}
		occ.Series = r.Get("model")
	case audit.TypeResource:
		occ = resource(f, r, dom, failed, occ)
	}
	f.Count(occ.Action, 1)
	occ.Note = model.Clean(occ.Note, model.MaxNoteBytes)
	occ.Series = model.Clean(occ.Series, model.MaxFieldBytes)
	return occ
}

func control(f *model.Facts, r *audit.Record, dom string, failed bool, occ model.Occurrence) model.Occurrence {
	op, reason := r.Get("op"), r.Get("reason")
	occ.Series = model.Clean(reason, 64)
	switch op {
	case "start":
		occ.Action, occ.Reason = "libvirt-start", ReasonStart
		if failed {
			occ.Note = fmt.Sprintf("%s failed to start %s (reason: %s)", who(r), dom, v(r, "reason"))
			// libvirt writes the reason=start records of every device
			// before it knows the start failed: a domain that did not
			// start uses none of them.
			f.Resources = model.Resources{}
			break
		}
		occ.Note = fmt.Sprintf("%s started %s (reason: %s)%s", who(r), dom, v(r, "reason"), pid(r, ""))
		f.StartTime = r.Time
		f.SetRunState(vmv1.RunStateRunning, clip(reason, 64), r.Time)
	case "stop":
		occ.Action, occ.Reason = "libvirt-stop", ReasonStop
		if failed {
			occ.Note = fmt.Sprintf("%s failed to stop %s (reason: %s)", who(r), dom, v(r, "reason"))
			break
		}
		// libvirt writes vm-pid=0 here: the process is already reaped.
		occ.Note = fmt.Sprintf("%s stopped %s (reason: %s)%s", who(r), dom, v(r, "reason"), pid(r, " is gone"))
		state := vmv1.RunStateShutdown
		if reason == "crashed" || reason == "failed" {
			state = vmv1.RunStateCrashed
		}
		f.SetRunState(state, clip(reason, 64), r.Time)
		// A stopped domain uses no host devices; the next start reports
		// them all again.
		f.Resources.Disks, f.Resources.NICs = nil, nil
	case "init":
		occ.Action, occ.Reason = "libvirt-init", ReasonInit
		occ.Note = fmt.Sprintf("%s started the init process of container %s: pid %s in pid namespace %s (vm-pid %s)",
			who(r), dom, v(r, "init-pid"), v(r, "pid-ns"), v(r, "vm-pid"))
		if failed {
			occ.Note = fmt.Sprintf("%s failed to start the init process of container %s", who(r), dom)
		}
	default:
		occ.Action, occ.Reason = "libvirt-control", "LibvirtControl"
		occ.Note = fmt.Sprintf("%s: operation %s on %s (reason: %s, result: %s)", who(r), v(r, "op"), dom, v(r, "reason"), v(r, "res"))
	}
	return occ
}

func setSize(f *model.Facts, kind, val string) {
	n, err := strconv.ParseInt(val, 10, 64)
	if err != nil || n < 0 {
		return
	}
	switch kind {
	case "vcpu":
		if n > 1<<20 {
			return
		}
		c := int32(n)
		f.Resources.VCPUs = &c
	case "mem":
		// libvirt writes KiB, whatever its documentation says.
		if n > 1<<50 {
			return
		}
		b := n * 1024
		f.Resources.MemoryBytes = &b
	}
}

// swap replaces old with nw in a device list (removing old when nw is
// empty, adding nw when old is empty or absent).
func swap(list []string, old, nw string) []string {
	old, nw = model.Clean(old, model.MaxFieldBytes), model.Clean(nw, model.MaxFieldBytes)
	if old != "" {
		if i := slices.Index(list, old); i >= 0 {
			list = slices.Delete(slices.Clone(list), i, i+1)
		}
	}
	if nw != "" && !slices.Contains(list, nw) && len(list) < maxDevices {
		list = append(slices.Clone(list), nw)
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// pid says "; QEMU pid N" and then what, or nothing when vm-pid is 0 or
// absent (libvirt writes 0 once the process is gone).
func pid(r *audit.Record, what string) string {
	n, err := strconv.ParseInt(r.Get("vm-pid"), 10, 64)
	if err != nil || n <= 0 {
		return ""
	}
	proc := "QEMU"
	if r.Get("virt") == "lxc" {
		proc = "container"
	}
	return fmt.Sprintf("; %s pid %d%s", proc, n, what)
}

// domainName names the domain in notes: "domain NAME (UUID)".
func domainName(r *audit.Record) string {
	name := r.Get("vm")
	if name == "" {
		return "domain " + v(r, "uuid")
	}
	return fmt.Sprintf("domain %q (%s)", model.Clean(name, model.MaxFieldBytes), v(r, "uuid"))
}

// who says which process wrote the record and for which login user.
func who(r *audit.Record) string {
	exe := r.Get("exe")
	if exe == "" {
		exe = "libvirtd"
	} else if i := strings.LastIndexByte(exe, '/'); i >= 0 {
		exe = exe[i+1:]
	}
	s := model.Clean(exe, 64)
	if pid := r.Header["pid"]; pid != "" {
		s += " (pid " + model.Clean(pid, 16) + ")"
	}
	user := r.Header["uid"]
	if u := r.Enriched["UID"]; u != "" {
		user = u
	}
	login := r.Header["auid"]
	if a := r.Enriched["AUID"]; a != "" {
		login = a
	}
	if login == "4294967295" {
		login = "unset"
	}
	if user != "" {
		s += " as user " + model.Clean(user, 32)
	}
	if login != "" && login != "unset" {
		s += " for login user " + model.Clean(login, 32)
	}
	return s
}

// v is a field, cleaned, "?" when absent.
func v(r *audit.Record, key string) string {
	s := r.Get(key)
	if s == "" {
		return "?"
	}
	return model.Clean(s, model.MaxFieldBytes)
}

// orNone is a field, cleaned, "none" when absent.
func orNone(r *audit.Record, key string) string {
	s := r.Get(key)
	if s == "" {
		return "none"
	}
	return model.Clean(s, model.MaxFieldBytes)
}

func clip(s string, n int) string { return model.Clean(s, n) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
