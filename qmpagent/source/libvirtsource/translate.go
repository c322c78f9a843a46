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
	// ReasonResourcePrefix is followed by the resource kind: LibvirtResourceDisk.
	ReasonResourcePrefix = "LibvirtResource"
)

// maxDevices bounds the disks and NICs kept in the facts.
const maxDevices = 64

// ResourceReason is the Event reason of a VIRT_RESOURCE record of a kind
// (vcpu, tpm-emulator): LibvirtResourceVCPU, LibvirtResourceTPMEmulator.
func ResourceReason(resrc string) string {
	r := model.ReasonFor(model.Clean(resrc, 32))
	if r == "" {
		r = "Unknown"
	}
	return ReasonResourcePrefix + r
}

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
			break
		}
		occ.Note = fmt.Sprintf("%s started %s (reason: %s); QEMU pid %s", who(r), dom, v(r, "reason"), v(r, "vm-pid"))
		f.StartTime = r.Time
		f.SetRunState(vmv1.RunStateRunning, clip(reason, 64), r.Time)
	case "stop":
		occ.Action, occ.Reason = "libvirt-stop", ReasonStop
		if failed {
			occ.Note = fmt.Sprintf("%s failed to stop %s (reason: %s)", who(r), dom, v(r, "reason"))
			break
		}
		occ.Note = fmt.Sprintf("%s stopped %s (reason: %s); QEMU pid %s is gone", who(r), dom, v(r, "reason"), v(r, "vm-pid"))
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

func resource(f *model.Facts, r *audit.Record, dom string, failed bool, occ model.Occurrence) model.Occurrence {
	kind := r.Get("resrc")
	reason := r.Get("reason")
	occ.Action = "libvirt-resource-" + model.Clean(kind, 32)
	occ.Reason = ResourceReason(kind)
	verb := "changed"
	if failed {
		verb = "failed to change"
	}
	why := ""
	if reason != "" {
		why = " (reason: " + v(r, "reason") + ")"
	}
	var what string
	series := kind + "/" + reason
	switch kind {
	case "vcpu", "mem":
		unit := ""
		if kind == "mem" {
			unit = " KiB"
		}
		what = fmt.Sprintf("the %s of %s from %s%s to %s%s", map[string]string{"vcpu": "vCPU count", "mem": "memory"}[kind],
			dom, v(r, "old-"+kind), unit, v(r, "new-"+kind), unit)
		if !failed {
			setSize(f, kind, r.Get("new-"+kind))
		}
	case "disk", "net", "fs", "rng", "chardev", "smartcard":
		old, nw := r.Get("old-"+kind), r.Get("new-"+kind)
		if kind == "net" && old == "" && nw == "" && r.Get("net") != "" {
			// The host side of a NIC: net=MAC rdev=IFNAME.
			what = fmt.Sprintf("the host interface of %s's NIC %s to %s", dom, v(r, "net"), v(r, "rdev"))
			series += "/" + r.Get("net")
			break
		}
		what = fmt.Sprintf("the %s of %s from %s to %s", kindWord(kind), dom, orNone(r, "old-"+kind), orNone(r, "new-"+kind))
		series += "/" + old + "/" + nw
		if !failed {
			switch kind {
			case "disk":
				f.Resources.Disks = swap(f.Resources.Disks, old, nw)
			case "net":
				f.Resources.NICs = swap(f.Resources.NICs, strings.ToLower(old), strings.ToLower(nw))
			}
		}
	case "hostdev", "dev":
		var parts []string
		for _, k := range []string{"bus", "device", "dev", "disk", "chardev", "path"} {
			if r.Get(k) != "" {
				parts = append(parts, k+" "+v(r, k))
				series += "/" + r.Get(k)
			}
		}
		what = fmt.Sprintf("the host device assignment of %s: %s", dom, strings.Join(parts, ", "))
	case "tpm", "tpm-emulator":
		what = fmt.Sprintf("the TPM of %s: %s", dom, orNone(r, "device"))
		series += "/" + r.Get("device")
	case "redir":
		what = fmt.Sprintf("the redirected device of %s: %s on bus %s", dom, orNone(r, "device"), orNone(r, "bus"))
		series += "/" + r.Get("device")
	case "cgroup":
		var parts []string
		for _, k := range []string{"cgroup", "class", "path", "category", "maj", "rdev", "acl"} {
			if r.Get(k) != "" {
				parts = append(parts, k+" "+v(r, k))
			}
		}
		series += "/" + r.Get("class") + "/" + r.Get("path") + r.Get("category")
		what = fmt.Sprintf("the device cgroup of %s: %s", dom, strings.Join(parts, ", "))
	case "shmem":
		what = fmt.Sprintf("the shared memory of %s: %s of size %s backed by %s", dom, orNone(r, "shmem"), orNone(r, "size"), orNone(r, "source"))
		series += "/" + r.Get("shmem")
	default:
		var parts []string
		for _, k := range sortedKeys(r.Fields) {
			switch k {
			case "virt", "resrc", "reason", "vm", "uuid", "exe", "hostname", "addr", "terminal", "res":
				continue
			}
			parts = append(parts, k+"="+v(r, k))
		}
		what = fmt.Sprintf("resource %s of %s: %s", v(r, "resrc"), dom, strings.Join(parts, " "))
	}
	occ.Note = fmt.Sprintf("%s %s %s%s", who(r), verb, what, why)
	occ.Series = series
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

func kindWord(kind string) string {
	switch kind {
	case "net":
		return "NIC (MAC address)"
	case "fs":
		return "filesystem"
	case "rng":
		return "RNG source"
	case "chardev":
		return "character device"
	}
	return kind
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
