package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource"
)

// libvirtFlags turn on the libvirt sources: the audit log (on by default)
// and, with --libvirt-uri, libvirtd's QEMU monitor and lifecycle events.
type libvirtFlags struct {
	uri, auditLog, auditState, discoverNS *string
}

func bindLibvirtFlags(fs *flag.FlagSet) *libvirtFlags {
	return &libvirtFlags{
		uri:        fs.String("libvirt-uri", "", "libvirtd URI (e.g. 'qemu:///system' or 'qemu:///system?socket=/run/libvirt/libvirt-sock'); the QEMU monitor events of the domains named by spec.libvirt.domain are followed through it; off when empty"),
		auditLog:   fs.String("audit-log", "/var/log/audit/audit.log", "audit log to follow for libvirt's VIRT_CONTROL, VIRT_MACHINE_ID and VIRT_RESOURCE records; --audit-log='' turns it off"),
		auditState: fs.String("audit-state", "/var/lib/vmevents/audit.pos", "file keeping the audit log reading position (inode and offset) across restarts; empty: none, a restart reads from the end"),
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
	return nil
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
		s, err := libvirtsource.NewAudit(p, libvirtsource.AuditConfig{Path: *f.auditLog, StatePath: *f.auditState, Discovery: discovery, Tenancy: tenancy})
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
