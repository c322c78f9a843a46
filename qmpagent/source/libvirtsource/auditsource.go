package libvirtsource

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/libvirtsource/audit"
)

// AuditConfig configures the audit log source.
type AuditConfig struct {
	// Path is the audit log, e.g. /var/log/audit/audit.log.
	Path string
	// StatePath keeps the reading position across restarts.
	StatePath string
	// FromStart reads a log with no saved position from its start instead
	// of from its end.
	FromStart bool
	// Discovery, when set, creates VirtualMachines for unknown domains.
	Discovery *Discovery
	// Sender is whose records are believed (by the identity the kernel
	// stamps on them); nil: DefaultSender. The others are counted and
	// logged, and reach no VirtualMachine.
	Sender *Sender
	// Tenancy says which domains' records a VM's namespace is told of.
	Tenancy source.Tenancy
}

// Audit follows the audit log and publishes libvirt's records.
type Audit struct {
	pub      source.Publisher
	resolver *resolver
	follower *Follower
	sender   *senderCheck
	// refusedOnce: the first refusal of each reason is logged, so that a
	// misconfigured sender shows, and a flood of forged records does not
	// flood the log.
	refusedOnce map[string]bool
	log         logr.Logger
}

var _ source.Source = (*Audit)(nil)

// NewAudit builds the audit log source.
func NewAudit(p source.Publisher, cfg AuditConfig) (*Audit, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("the audit log path is required")
	}
	sender := DefaultSender()
	if cfg.Sender != nil {
		sender = *cfg.Sender
	}
	check, err := newSenderCheck(sender)
	if err != nil {
		return nil, err
	}
	a := &Audit{pub: p, resolver: &resolver{pub: p, discovery: cfg.Discovery, tenancy: cfg.Tenancy}, sender: check, refusedOnce: map[string]bool{},
		log: ctrl.Log.WithName("libvirt-audit")}
	a.follower = &Follower{
		Path: cfg.Path, StatePath: cfg.StatePath, FromStart: cfg.FromStart, Log: a.log,
		Handle:    a.Handle,
		Malformed: func(err error) { a.malformed(nil, err) },
	}
	return a, nil
}

// Name implements source.Source.
func (a *Audit) Name() string { return "libvirt-audit" }

// Start follows the log until ctx ends.
func (a *Audit) Start(ctx context.Context) error {
	a.log.Info("following the audit log", "path", a.follower.Path, "state", a.follower.StatePath,
		"senderUID", a.sender.UID, "senderExes", a.sender.Exes, "senderLabels", a.sender.Labels)
	return a.follower.Run(ctx)
}

// Handle handles one line of the log. Nothing in a line can make it panic
// out: a line it cannot read is logged and counted, and the next goes on.
func (a *Audit) Handle(ctx context.Context, line []byte) {
	defer func() {
		if r := recover(); r != nil {
			a.malformed(line, fmt.Errorf("internal error handling the line: %v", r))
		}
	}()
	typ, err := audit.RecordType(line)
	if err != nil {
		a.malformed(line, err)
		return
	}
	if !audit.IsVirt(typ) {
		return
	}
	rec, err := audit.Parse(line)
	if err != nil {
		a.malformed(line, err)
		return
	}
	if reason, found := a.sender.refusal(rec.Header); reason != "" {
		a.refused(rec, reason, found)
		return
	}
	result := rec.Get("res")
	if result != "success" && result != "failed" {
		result = "other"
	}
	auditRecords.WithLabelValues(rec.Type, result).Inc()
	t, ok := a.resolver.resolve(ctx, rec.Get("uuid"), rec.Get("vm"), "audit")
	if !ok {
		a.log.V(1).Info("no VirtualMachine for the domain", "vm", rec.Get("vm"), "uuid", rec.Get("uuid"), "type", rec.Type)
		return
	}
	a.log.V(1).Info("audit record", "type", rec.Type, "vm", t.Key.String(), "serial", rec.Serial)
	var occ model.Occurrence
	a.pub.UpdateFacts(t.Key, func(f *model.Facts) { occ = Apply(f, rec) })
	metrics.EventsReceived.WithLabelValues(vmv1.SourceLibvirt, metricAction(occ.Action)).Inc()
	source.Tell(a.pub, t, occ, vmv1.SourceLibvirt)
}

// knownActions bound the metric labels: a resource kind from a newer
// libvirt (or a forged record) is counted as libvirt-resource-other.
var knownActions = map[string]bool{}

func init() {
	for k := range resourceKinds {
		knownActions["libvirt-resource-"+k] = true
	}
	for _, a := range []string{"libvirt-start", "libvirt-stop", "libvirt-init", "libvirt-control", "libvirt-machine-id"} {
		knownActions[a] = true
	}
}

func metricAction(action string) string {
	if knownActions[action] {
		return action
	}
	return "libvirt-resource-other"
}

func (a *Audit) malformed(line []byte, err error) {
	malformed.WithLabelValues("audit").Inc()
	a.log.Info("skipping an audit log line", "error", err.Error(), "line", model.Clean(string(line), 300))
}

// refused counts and logs a record whose sender is not libvirtd's.
func (a *Audit) refused(rec *audit.Record, reason, found string) {
	auditRefused.WithLabelValues(reason).Inc()
	kv := []any{"reason", reason, "found", model.Clean(found, 300), "type", rec.Type, "serial", rec.Serial,
		"vm", model.Clean(rec.Get("vm"), 64), "claimedExe", model.Clean(rec.Get("exe"), 128)}
	if a.refusedOnce[reason] {
		a.log.V(1).Info("refusing an audit record not sent by libvirtd", kv...)
		return
	}
	a.refusedOnce[reason] = true
	if reason == refusedGone {
		kv = append(kv, "hint", "libvirtd's records are checked through /proc/PID/exe: the agent must share the host's PID namespace (hostPID), or be given libvirtd's security label (--libvirt-audit-subj); records of a libvirtd that exited before the agent first saw it are refused too")
	}
	a.log.Info("refusing an audit record not sent by libvirtd; later ones refused for this reason are only counted (and logged at V(1))", kv...)
}
