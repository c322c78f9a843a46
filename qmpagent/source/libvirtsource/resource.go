package libvirtsource

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
)

// ReasonResourcePrefix is followed by the resource kind: LibvirtResourceDisk.
const ReasonResourcePrefix = "LibvirtResource"

// kindRedirdev is a redirected USB device: libvirt writes it as resrc=dev
// with device="USB redirdev" (virDomainAuditRedirdev), its documentation
// as resrc=redir.
const kindRedirdev = "redirdev"

// resourceKind is what the agent knows of one kind of VIRT_RESOURCE
// record, as libvirt's src/conf/domain_audit.c writes it.
type resourceKind struct {
	// reason follows ReasonResourcePrefix in the Event reason.
	reason string
	// describe says what changed; failed says the change failed.
	describe func(r *audit.Record, dom string, failed bool) (note, series string)
	// apply records a successful change in the facts (nil: none).
	apply func(f *model.Facts, r *audit.Record)
}

// resourceKinds are the kinds libvirt writes. Anything else (a newer
// libvirt, a forged record) gets the generic description.
var resourceKinds = map[string]resourceKind{
	"vcpu":           {reason: "VCPU", describe: count("vCPU count", ""), apply: applySize},
	"mem":            {reason: "Mem", describe: count("memory", " KiB"), apply: applySize},
	"iothread":       {reason: "IOThread", describe: count("IOThread count", "")},
	"disk":           {reason: "Disk", describe: swapped("disk"), apply: applyDisk},
	"net":            {reason: "Net", describe: netDescription, apply: applyNet},
	"fs":             {reason: "Fs", describe: swapped("filesystem")},
	"rng":            {reason: "Rng", describe: swapped("RNG source")},
	"chardev":        {reason: "Chardev", describe: swapped("character device")},
	"smartcard":      {reason: "Smartcard", describe: swapped("smartcard")},
	"hostdev":        {reason: "Hostdev", describe: hostDevice},
	"dev":            {reason: "Dev", describe: hostDevice},
	kindRedirdev:     {reason: "Redirdev", describe: redirection},
	"tpm":            {reason: "TPM", describe: path("TPM of", "device")},
	"tpm-emulator":   {reason: "TPMEmulator", describe: path("TPM emulator socket of", "device")},
	"shmem":          {reason: "Shmem", describe: sharedMemory},
	"ivshmem-socket": {reason: "IvshmemSocket", describe: path("ivshmem server socket of", "path")},
	"evdev":          {reason: "Evdev", describe: path("input device passed through to", "path")},
	"cgroup":         {reason: "Cgroup", describe: deviceCgroup},
}

// resourceKindOf is the kind of a record: its resrc, except that a
// redirected USB device (resrc=dev device="USB redirdev", or the
// documentation's resrc=redir) is a redirection, not a host device.
func resourceKindOf(r *audit.Record) string {
	kind := r.Get("resrc")
	if kind == "redir" || kind == "dev" && strings.HasPrefix(r.Get("device"), "USB redir") {
		return kindRedirdev
	}
	return kind
}

// ResourceReason is the Event reason of a VIRT_RESOURCE record of a kind
// (vcpu, tpm-emulator): LibvirtResourceVCPU, LibvirtResourceTPMEmulator.
// Whatever the kind holds, the reason is a bounded identifier.
func ResourceReason(kind string) string {
	if k, ok := resourceKinds[kind]; ok {
		return ReasonResourcePrefix + k.reason
	}
	r := model.ReasonFor(identifier(kind))
	if r == "" {
		r = "Unknown"
	}
	return ReasonResourcePrefix + r
}

// identifier keeps the ASCII letters and digits of a kind, any other run
// of bytes becoming one '-', bounded to 32 bytes: "ev\x01il" is "ev-il".
func identifier(kind string) string {
	var b strings.Builder
	sep := false
	for i := 0; i < len(kind) && b.Len() < 32; i++ {
		c := kind[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		b.WriteByte(c)
		sep = false
	}
	return b.String()
}

// resource translates a VIRT_RESOURCE record.
func resource(f *model.Facts, r *audit.Record, dom string, failed bool, occ model.Occurrence) model.Occurrence {
	kind := resourceKindOf(r)
	k, known := resourceKinds[kind]
	if !known {
		kind = identifier(kind)
		k = resourceKind{describe: generic}
	}
	occ.Action = "libvirt-resource-" + kind
	occ.Reason = ResourceReason(kind)
	note, series := k.describe(r, dom, failed)
	if why := r.Get("reason"); why != "" {
		note += " (reason: " + v(r, "reason") + ")"
	}
	occ.Note = who(r) + " " + note
	occ.Series = kind + "/" + r.Get("reason") + series
	if !failed && k.apply != nil {
		k.apply(f, r)
	}
	return occ
}

// verb is "changed", or "failed to change" for a failed record.
func verb(failed bool, done, do string) string {
	if failed {
		return "failed to " + do
	}
	return done
}

// count describes a number that changed (vcpu, mem, iothread).
func count(what, unit string) func(*audit.Record, string, bool) (string, string) {
	return func(r *audit.Record, dom string, failed bool) (string, string) {
		kind := r.Get("resrc")
		return fmt.Sprintf("%s the %s of %s from %s%s to %s%s", verb(failed, "changed", "change"), what, dom,
			v(r, "old-"+kind), unit, v(r, "new-"+kind), unit), ""
	}
}

// swapped describes a device whose backing changed from old-KIND to new-KIND.
func swapped(what string) func(*audit.Record, string, bool) (string, string) {
	return func(r *audit.Record, dom string, failed bool) (string, string) {
		kind := r.Get("resrc")
		return fmt.Sprintf("%s the %s of %s from %s to %s", verb(failed, "changed", "change"), what, dom,
				orNone(r, "old-"+kind), orNone(r, "new-"+kind)),
			"/" + r.Get("old-"+kind) + "/" + r.Get("new-"+kind)
	}
}

// path describes a device named by one path-like field; what ends with
// its preposition ("TPM of").
func path(what, field string) func(*audit.Record, string, bool) (string, string) {
	return func(r *audit.Record, dom string, failed bool) (string, string) {
		return fmt.Sprintf("%s the %s %s: %s", verb(failed, "changed", "change"), what, dom, orNone(r, field)), "/" + r.Get(field)
	}
}

// netDescription describes a NIC (old-net/new-net: its MAC address) or,
// for reason=open (virDomainAuditNetDevice), a host device opened for it:
// net=MAC path=/dev/net/tun rdev=0A:C8 (hex major:minor, "?" if none).
func netDescription(r *audit.Record, dom string, failed bool) (string, string) {
	if r.Get("reason") != "open" {
		return swapped("NIC (MAC address)")(r, dom, failed)
	}
	dev := ""
	if n := deviceNumber(r.Get("rdev")); n != "" {
		dev = " (device number " + n + ")"
	}
	return fmt.Sprintf("%s %s%s for the NIC %s of %s", verb(failed, "opened", "open"), orNone(r, "path"), dev, orNone(r, "net"), dom),
		"/" + r.Get("net") + "/" + r.Get("path")
}

func applySize(f *model.Facts, r *audit.Record) {
	kind := r.Get("resrc")
	setSize(f, kind, r.Get("new-"+kind))
}

func applyDisk(f *model.Facts, r *audit.Record) {
	f.Resources.Disks = swap(f.Resources.Disks, r.Get("old-disk"), r.Get("new-disk"))
}

func applyNet(f *model.Facts, r *audit.Record) {
	if r.Get("reason") == "open" {
		return // the host side of a NIC the start records list
	}
	f.Resources.NICs = swap(f.Resources.NICs, strings.ToLower(r.Get("old-net")), strings.ToLower(r.Get("new-net")))
}

// hostDevice describes a host device assignment: resrc=dev bus=pci|usb|scsi
// device=ADDRESS, or resrc=hostdev disk=PATH or chardev=PATH.
func hostDevice(r *audit.Record, dom string, failed bool) (string, string) {
	parts, series := fields(r, "bus", "device", "disk", "chardev")
	return fmt.Sprintf("%s the host device assignment of %s: %s", verb(failed, "changed", "change"), dom, strings.Join(parts, ", ")), series
}

// redirection describes a redirected USB device (usbredir over a
// channel): nothing of the host is assigned to the guest.
func redirection(r *audit.Record, dom string, failed bool) (string, string) {
	return fmt.Sprintf("%s the USB redirection of %s (a redirected USB device on bus %s)", verb(failed, "changed", "change"), dom, orNone(r, "bus")),
		"/" + r.Get("bus")
}

// sharedMemory describes an ivshmem region: size=BYTES path=/dev/shm/NAME.
func sharedMemory(r *audit.Record, dom string, failed bool) (string, string) {
	return fmt.Sprintf("%s the shared memory of %s: %s of %s bytes", verb(failed, "changed", "change"), dom, orNone(r, "path"), v(r, "size")),
		"/" + r.Get("path")
}

// deviceCgroup describes a device cgroup ACL change: class=all, class=major
// category=NAME maj=HEX, or class=path path=PATH rdev=HEX:HEX.
func deviceCgroup(r *audit.Record, dom string, failed bool) (string, string) {
	var parts []string
	for _, k := range []string{"cgroup", "class", "category", "path"} {
		if r.Get(k) != "" {
			parts = append(parts, k+" "+v(r, k))
		}
	}
	if m := r.Get("maj"); m != "" {
		if n, err := strconv.ParseUint(m, 16, 32); err == nil {
			m = strconv.FormatUint(n, 10)
		}
		parts = append(parts, "major "+model.Clean(m, 16))
	}
	if n := deviceNumber(r.Get("rdev")); n != "" {
		parts = append(parts, "device number "+n)
	}
	if r.Get("acl") != "" {
		parts = append(parts, "acl "+v(r, "acl"))
	}
	return fmt.Sprintf("%s the device cgroup of %s: %s", verb(failed, "changed", "change"), dom, strings.Join(parts, ", ")),
		"/" + r.Get("class") + "/" + r.Get("path") + r.Get("category")
}

// generic describes a kind the agent does not know, field by field.
func generic(r *audit.Record, dom string, failed bool) (string, string) {
	var parts []string
	for _, k := range sortedKeys(r.Fields) {
		switch k {
		case "virt", "resrc", "reason", "vm", "uuid", "exe", "hostname", "addr", "terminal", "res":
			continue
		}
		parts = append(parts, model.Clean(k, 32)+"="+v(r, k))
	}
	return fmt.Sprintf("%s resource %s of %s: %s", verb(failed, "changed", "change"), v(r, "resrc"), dom, strings.Join(parts, " ")), ""
}

// fields lists the present fields as "key value", and their values for a series.
func fields(r *audit.Record, keys ...string) (parts []string, series string) {
	for _, k := range keys {
		if r.Get(k) != "" {
			parts = append(parts, k+" "+v(r, k))
			series += "/" + r.Get(k)
		}
	}
	return parts, series
}

// deviceNumber turns libvirt's hex "MAJ:MIN" (virDomainAuditGetRdev) into
// the decimal major:minor ls -l shows; "" when absent, the value cleaned
// when it is not that form.
func deviceNumber(s string) string {
	if s == "" {
		return ""
	}
	maj, min, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(maj, 16, 32)
	b, err2 := strconv.ParseUint(min, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return model.Clean(s, 32)
	}
	return fmt.Sprintf("%d:%d", a, b)
}
