package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/libvirtsource"
)

// The libvirt sources: the audit log (on by default) and, with
// --libvirt-uri, libvirtd's QEMU monitor and lifecycle events.
func init() {
	agentSources = append(agentSources, func(fs *flag.FlagSet) func() (qmpagent.SourceFactory, error) {
		uri := fs.String("libvirt-uri", "", "libvirtd URI (e.g. 'qemu:///system' or 'qemu:///system?socket=/run/libvirt/libvirt-sock'); the QEMU monitor events of the domains named by spec.libvirt.domain are followed through it; off when empty")
		auditLog := fs.String("audit-log", "/var/log/audit/audit.log", "audit log to follow for libvirt's VIRT_CONTROL, VIRT_MACHINE_ID and VIRT_RESOURCE records; --audit-log='' turns it off")
		auditState := fs.String("audit-state", "/var/lib/vmevents/audit.pos", "file keeping the audit log reading position (inode and offset) across restarts; empty: none, a restart reads from the end")
		discoverNS := fs.String("libvirt-discover-namespace", "", "when set, create a VirtualMachine in this namespace for each libvirt domain no VirtualMachine names (needs the vmevents-agent-discovery role); off when empty")
		return func() (qmpagent.SourceFactory, error) {
			if *uri == "" && *auditLog == "" {
				return nil, nil
			}
			if *auditLog != "" && !filepath.IsAbs(*auditLog) {
				return nil, fmt.Errorf("--audit-log %q must be an absolute path", *auditLog)
			}
			if *auditState != "" && !filepath.IsAbs(*auditState) {
				return nil, fmt.Errorf("--audit-state %q must be an absolute path", *auditState)
			}
			var discovery *libvirtsource.Discovery
			if *discoverNS != "" {
				discovery = &libvirtsource.Discovery{Namespace: *discoverNS}
			}
			audit, monitor := *auditLog, *uri
			return func(p qmpagent.Publisher) (manager.Runnable, error) {
				var runs []manager.Runnable
				if audit != "" {
					r, err := libvirtsource.AuditFactory(libvirtsource.AuditConfig{Path: audit, StatePath: *auditState, Discovery: discovery})(p)
					if err != nil {
						return nil, err
					}
					runs = append(runs, r)
				}
				if monitor != "" {
					r, err := libvirtsource.MonitorFactory(libvirtsource.MonitorConfig{URI: monitor, AuditOn: audit != "", Discovery: discovery})(p)
					if err != nil {
						return nil, err
					}
					runs = append(runs, r)
				}
				return libvirtsource.All(runs...), nil
			}, nil
		}
	})
}
