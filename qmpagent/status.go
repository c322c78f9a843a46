package qmpagent

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// FieldManager is the server-side apply field manager the agent writes
// under, so the controller's conditions are never touched.
const FieldManager = "vmevents-agent"

// ApplyFacts writes facts into the VM's status with server-side apply. Only
// the agent's fields are sent, so the apply never claims the controller's
// conditions. A VM that no longer exists is not an error.
func ApplyFacts(ctx context.Context, c client.Client, key types.NamespacedName, facts model.Facts) error {
	return applyStatus(ctx, c, key, facts, nil)
}

// applyStatus is ApplyFacts, leaving out the status fields named in without.
func applyStatus(ctx context.Context, c client.Client, key types.NamespacedName, facts model.Facts, without []string) error {
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptrTo(StatusFromFacts(facts)))
	if err != nil {
		return fmt.Errorf("converting facts: %w", err)
	}
	for _, field := range without {
		delete(status, field)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetAPIVersion(vmv1.GroupVersion.String())
	u.SetKind("VirtualMachine")
	u.SetNamespace(key.Namespace)
	u.SetName(key.Name)
	err = c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// variableFields are the status fields whose size the facts decide: those
// left out of a status refused as invalid when the refusal names none.
var variableFields = []string{"eventCounts", "displaySessions", "blockErrors", "quorumFaults", "resources"}

// invalidFields are the top-level status fields an Invalid refusal names
// (its causes' fields, status.<field>...), or variableFields if it names
// none of them.
func invalidFields(err error) []string {
	var fields []string
	if st, ok := err.(apierrors.APIStatus); ok && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			path, under := strings.CutPrefix(strings.TrimPrefix(c.Field, "."), "status.")
			if !under || path == "" {
				continue
			}
			name, _, _ := strings.Cut(path, ".")
			name, _, _ = strings.Cut(name, "[")
			if name != "conditions" && name != "observedGeneration" {
				fields = append(fields, name)
			}
		}
	}
	if len(fields) == 0 {
		return variableFields
	}
	return fields
}

// StatusFromFacts is the agent's part of a VirtualMachine status: every fact,
// and neither conditions nor observedGeneration. It is bounded to the
// schema (model.Facts.Bound) whatever the facts hold.
func StatusFromFacts(f model.Facts) vmv1.VirtualMachineStatus {
	f = f.Clone()
	f.Bound()
	s := vmv1.VirtualMachineStatus{
		RunState:           f.RunState,
		RunStateReason:     f.RunStateReason,
		RunStateSince:      microTime(f.RunStateSince),
		StartTime:          microTime(f.StartTime),
		EventCounts:        f.EventCounts,
		BalloonActualBytes: f.BalloonActualBytes,
		RTCOffsetSeconds:   f.RTCOffsetSeconds,
		Monitor: &vmv1.MonitorStatus{
			State:         f.Monitor.State,
			Connected:     f.Monitor.State == vmv1.MonitorConnected,
			Source:        f.Monitor.Source,
			Endpoint:      f.Monitor.Endpoint,
			QEMUVersion:   f.Monitor.QEMUVersion,
			VMName:        f.Monitor.VMName,
			VMUUID:        f.Monitor.VMUUID,
			Since:         metaTime(f.Monitor.Since),
			LastEventTime: microTime(f.Monitor.LastEventTime),
			LastError:     f.Monitor.LastError,
			Reconnects:    f.Monitor.Reconnects,
		},
	}
	if s.Monitor.State == "" {
		s.Monitor.State = vmv1.MonitorConnecting
	}
	if d := f.Delivery; d != (model.Delivery{}) {
		s.Delivery = &vmv1.DeliveryStatus{Coalesced: d.Coalesced, Shed: d.Shed, Resyncs: d.Resyncs, Refused: d.Refused, Dropped: d.Dropped, Silenced: d.Silenced}
	}
	if p := f.LastPanic; p != nil {
		s.LastPanic = &vmv1.PanicInfo{Time: metav1.NewMicroTime(p.Time), Action: p.Action, Info: p.Info, CrashLoaded: p.CrashLoaded}
	}
	if m := f.LastMemoryFailure; m != nil {
		s.LastMemoryFailure = &vmv1.MemoryFailureInfo{
			Time: metav1.NewMicroTime(m.Time), Recipient: m.Recipient, Action: m.Action,
			ActionRequired: m.ActionRequired, Recursive: m.Recursive, Count: m.Count,
		}
	}
	if w := f.LastWatchdog; w != nil {
		s.LastWatchdog = &vmv1.WatchdogInfo{Time: metav1.NewMicroTime(w.Time), Action: w.Action}
	}
	if r := f.LastReset; r != nil {
		s.LastReset = &vmv1.ResetInfo{Time: metav1.NewMicroTime(r.Time), Guest: r.Guest, Reason: r.Reason}
	}
	if r := f.Resources; r.VCPUs != nil || r.MemoryBytes != nil || len(r.Disks) > 0 || len(r.NICs) > 0 {
		s.Resources = &vmv1.ResourceFacts{VCPUs: r.VCPUs, MemoryBytes: r.MemoryBytes, Disks: r.Disks, NICs: r.NICs}
	}
	for _, d := range f.DisplaySessions() {
		s.DisplaySessions = append(s.DisplaySessions, vmv1.DisplaySession{
			Protocol: d.Protocol, Client: d.Client, Since: microTime(d.Since), Auth: d.Auth, Username: d.Username,
		})
	}
	for _, b := range f.BlockErrorList() {
		s.BlockErrors = append(s.BlockErrors, vmv1.BlockError{
			Device: b.Device, Operation: b.Operation, Action: b.Action, NoSpace: b.NoSpace,
			Reason: b.Reason, Count: b.Count, LastTime: microTime(b.LastTime),
		})
	}
	for _, q := range f.QuorumFaultList() {
		s.QuorumFaults = append(s.QuorumFaults, vmv1.QuorumFault{
			Node: q.Node, Kind: q.Kind, Operation: q.Operation, Error: q.Error,
			SectorNum: q.SectorNum, SectorsCount: q.SectorsCount, Count: q.Count, LastTime: microTime(q.LastTime),
		})
	}
	return s
}

// FactsFromStatus reads back the facts a previous agent run published, so a
// restarted agent continues its counters and history instead of resetting
// them.
func FactsFromStatus(s vmv1.VirtualMachineStatus) model.Facts {
	f := model.Facts{
		RunState:           s.RunState,
		RunStateReason:     s.RunStateReason,
		RunStateSince:      goMicroTime(s.RunStateSince),
		StartTime:          goMicroTime(s.StartTime),
		BalloonActualBytes: s.BalloonActualBytes,
		RTCOffsetSeconds:   s.RTCOffsetSeconds,
		EventCounts:        map[string]int64{},
	}
	for k, v := range s.EventCounts {
		f.EventCounts[k] = v
	}
	if m := s.Monitor; m != nil {
		f.Monitor = model.Monitor{
			State: m.State, Source: m.Source, Endpoint: m.Endpoint, QEMUVersion: m.QEMUVersion,
			VMName: m.VMName, VMUUID: m.VMUUID, Since: goTime(m.Since), LastEventTime: goMicroTime(m.LastEventTime),
			LastError: m.LastError, Reconnects: m.Reconnects,
		}
	}
	if r := s.Resources; r != nil {
		f.Resources = model.Resources{VCPUs: r.VCPUs, MemoryBytes: r.MemoryBytes, Disks: r.Disks, NICs: r.NICs}
	}
	if d := s.Delivery; d != nil {
		f.Delivery = model.Delivery{Coalesced: d.Coalesced, Shed: d.Shed, Resyncs: d.Resyncs, Refused: d.Refused, Dropped: d.Dropped, Silenced: d.Silenced}
	}
	if p := s.LastPanic; p != nil {
		f.LastPanic = &model.Panic{Time: p.Time.Time, Action: p.Action, Info: p.Info, CrashLoaded: p.CrashLoaded}
	}
	if m := s.LastMemoryFailure; m != nil {
		f.LastMemoryFailure = &model.MemoryFailure{
			Time: m.Time.Time, Recipient: m.Recipient, Action: m.Action,
			ActionRequired: m.ActionRequired, Recursive: m.Recursive, Count: m.Count,
		}
	}
	if w := s.LastWatchdog; w != nil {
		f.LastWatchdog = &model.Watchdog{Time: w.Time.Time, Action: w.Action}
	}
	if r := s.LastReset; r != nil {
		f.LastReset = &model.Reset{Time: r.Time.Time, Guest: r.Guest, Reason: r.Reason}
	}
	for _, d := range s.DisplaySessions {
		if f.Display == nil {
			f.Display = map[string]model.DisplaySession{}
		}
		ds := model.DisplaySession{Protocol: d.Protocol, Client: d.Client, Since: goMicroTime(d.Since), Auth: d.Auth, Username: d.Username}
		f.Display[ds.Key()] = ds
	}
	for _, b := range s.BlockErrors {
		if f.BlockErrors == nil {
			f.BlockErrors = map[string]model.BlockError{}
		}
		f.BlockErrors[b.Device] = model.BlockError{
			Device: b.Device, Operation: b.Operation, Action: b.Action, NoSpace: b.NoSpace,
			Reason: b.Reason, Count: b.Count, LastTime: goMicroTime(b.LastTime),
		}
	}
	for _, q := range s.QuorumFaults {
		if f.QuorumFaults == nil {
			f.QuorumFaults = map[string]model.QuorumFault{}
		}
		qf := model.QuorumFault{
			Node: q.Node, Kind: q.Kind, Operation: q.Operation, Error: q.Error,
			SectorNum: q.SectorNum, SectorsCount: q.SectorsCount, Count: q.Count, LastTime: goMicroTime(q.LastTime),
		}
		f.QuorumFaults[qf.Key()] = qf
	}
	return f
}

func ptrTo[T any](v T) *T { return &v }

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}

func microTime(t time.Time) *metav1.MicroTime {
	if t.IsZero() {
		return nil
	}
	return &metav1.MicroTime{Time: t}
}

func goTime(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

func goMicroTime(t *metav1.MicroTime) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
