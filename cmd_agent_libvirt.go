package main

import (
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource"
)

// libvirtFlags turn on the libvirt sources: the audit log (on by default)
// and, with --libvirt-uri, libvirtd's QEMU monitor and lifecycle events.
type libvirtFlags struct {
	uri, auditLog, auditState, discoverNS *string
	// The sender whose audit records are believed, by what the kernel
	// stamps on them (libvirtsource.Sender).
	auditUID             *uint64
	auditExes, auditSubj *string
}

func bindLibvirtFlags(fs *flag.FlagSet) *libvirtFlags {
	return &libvirtFlags{
		uri:        fs.String("libvirt-uri", "", "libvirtd URI (e.g. 'qemu:///system' or 'qemu:///system?socket=/run/libvirt/libvirt-sock'); the QEMU monitor events of the domains named by spec.libvirt.domain are followed through it; off when empty"),
		auditLog:   fs.String("audit-log", "/var/log/audit/audit.log", "audit log to follow for libvirt's VIRT_CONTROL, VIRT_MACHINE_ID and VIRT_RESOURCE records; --audit-log='' turns it off"),
		auditState: fs.String("audit-state", "/var/lib/vmevents/audit.pos", "file keeping the audit log reading position (inode and offset) across restarts; empty: none, a restart reads from the end"),
		auditUID:   fs.Uint64("libvirt-audit-uid", 0, "audit records are believed only if the kernel stamped this uid= on them (libvirtd's user)"),
		auditExes:  fs.String("libvirt-audit-exe", strings.Join(libvirtsource.DefaultSender().Exes, ","), "comma-separated executables of libvirtd, as the agent sees them: an audit record is believed only if its kernel-stamped pid= runs one of these files (needs the host's PID namespace, hostPID); the exe= a record names is the sender's own word and is not trusted; empty: no process check, --libvirt-audit-subj only"),
		auditSubj:  fs.String("libvirt-audit-subj", "", "comma-separated security labels of libvirtd (SELinux 'system_u:system_r:virtd_t:*', AppArmor 'libvirtd (enforce)'; a trailing * is a prefix): an audit record whose kernel-stamped subj= is one of them is believed without the process check; empty: none"),
		discoverNS: fs.String("libvirt-discover-namespace", "", "when set, create a VirtualMachine in this namespace for each libvirt domain no VirtualMachine names (needs the vmevents-agent-discovery role); off when empty"),
	}
}

func (f *libvirtFlags) validate() error {
	if *f.auditLog != "" && !filepath.IsAbs(*f.auditLog) {
		return fmt.Errorf("--audit-log %q must be an absolute path", *f.auditLog)
	}
	if *f.auditState != "" && !filepath.IsAbs(*f.auditState) {
		return fmt.Errorf("--audit-state %q must be an absolute path", *f.auditState)
	}
	if *f.auditLog == "" {
		return nil
	}
	if *f.auditUID > math.MaxUint32-1 { // (uid_t)-1 is "unset", never a sender
		return fmt.Errorf("--libvirt-audit-uid %d is not a uid", *f.auditUID)
	}
	if err := f.sender().Validate(); err != nil {
		return fmt.Errorf("--libvirt-audit-exe, --libvirt-audit-subj: %w", err)
	}
	return nil
}

// sender is whose audit records are believed.
func (f *libvirtFlags) sender() libvirtsource.Sender {
	return libvirtsource.Sender{UID: uint32(*f.auditUID), Exes: list(*f.auditExes), Labels: list(*f.auditSubj)}
}

// list splits a comma-separated flag, blanks dropped.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// sources are the libvirt sources the flags turn on, publishing through p,
// telling each VM only of the domains tenancy grants its namespace.
func (f *libvirtFlags) sources(p source.Publisher, tenancy source.Tenancy) ([]source.Source, error) {
	var discovery *libvirtsource.Discovery
	if *f.discoverNS != "" {
		discovery = &libvirtsource.Discovery{Namespace: *f.discoverNS}
	}
	var out []source.Source
	if *f.auditLog != "" {
		sender := f.sender()
		s, err := libvirtsource.NewAudit(p, libvirtsource.AuditConfig{Path: *f.auditLog, StatePath: *f.auditState, Discovery: discovery, Sender: &sender, Tenancy: tenancy})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if *f.uri != "" {
		s, err := libvirtsource.NewMonitor(p, libvirtsource.MonitorConfig{URI: *f.uri, AuditOn: *f.auditLog != "", Discovery: discovery, Tenancy: tenancy})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
