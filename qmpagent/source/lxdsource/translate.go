package lxdsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// DefaultProject is LXD's project when an event names none.
const DefaultProject = "default"

// Frame is one message of LXD's /1.0/events stream.
type Frame struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Location  string          `json:"location"`
	Project   string          `json:"project"`
	Metadata  json.RawMessage `json:"metadata"`
}

// Lifecycle is the metadata of a lifecycle event.
type Lifecycle struct {
	Action    string                     `json:"action"`
	Source    string                     `json:"source"`
	Context   map[string]json.RawMessage `json:"context"`
	Requestor *Requestor                 `json:"requestor"`
}

// Requestor is who asked for a lifecycle action.
type Requestor struct {
	Username string `json:"username"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
}

// Operation is the metadata of an operation event.
type Operation struct {
	ID          string              `json:"id"`
	Class       string              `json:"class"`
	Description string              `json:"description"`
	Status      string              `json:"status"`
	StatusCode  int                 `json:"status_code"`
	Resources   map[string][]string `json:"resources"`
	Err         string              `json:"err"`
}

// Logging is the metadata of a logging event.
type Logging struct {
	Message string            `json:"message"`
	Level   string            `json:"level"`
	Context map[string]string `json:"context"`
}

// Instance names an LXD instance.
type Instance struct {
	Project string
	Name    string
}

func (i Instance) String() string { return i.Name + " (project " + i.Project + ")" }

// Target says what an event is about.
type Target int

// Targets.
const (
	// TargetNone: nothing to publish (operation progress, debug logs).
	TargetNone Target = iota
	// TargetInstance: an LXD instance, so its VirtualMachine.
	TargetInstance
	// TargetNode: the hypervisor itself (projects, profiles, storage...).
	TargetNode
)

func (t Target) String() string {
	switch t {
	case TargetInstance:
		return "instance"
	case TargetNode:
		return "node"
	default:
		return "none"
	}
}

// Outcome is what one frame means for the agent.
type Outcome struct {
	// Type is the frame's type (lifecycle, operation, logging), cleaned.
	Type string
	// Location is the cluster member the event happened on: LXD's server
	// name, "none" on a standalone LXD (cleaned).
	Location string
	Target   Target
	// Instance is the instance, for TargetInstance.
	Instance Instance
	// OldName is the instance's previous name, for instance-renamed.
	OldName string
	// Occurrence is the Event to publish (when Target is not TargetNone).
	Occurrence model.Occurrence
	// RunState and RunStateReason, when RunState is set, are the
	// instance's new run state.
	RunState       vmv1.RunState
	RunStateReason string
}

// Bounds on what is quoted from LXD.
const (
	maxName   = 63  // instance and project names (as the API allows)
	maxAction = 64  // lifecycle actions
	maxValue  = 200 // one context value
)

// ErrMalformed wraps every reason a frame cannot be understood.
var ErrMalformed = errors.New("malformed LXD event")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

var actionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// runState is a run state and LXD's own status word for it, which stays in
// runStateReason.
type runState struct {
	state  vmv1.RunState
	reason string
}

// runStates are the run states the lifecycle actions move an instance into.
var runStates = map[string]runState{
	"instance-created":   {vmv1.RunStateShutdown, string(vmv1.LXDStatusStopped)},
	"instance-started":   {vmv1.RunStateRunning, string(vmv1.LXDStatusRunning)},
	"instance-restarted": {vmv1.RunStateRunning, string(vmv1.LXDStatusRunning)},
	"instance-resumed":   {vmv1.RunStateRunning, string(vmv1.LXDStatusRunning)},
	"instance-paused":    {vmv1.RunStatePaused, string(vmv1.LXDStatusFrozen)},
	"instance-stopped":   {vmv1.RunStateShutdown, string(vmv1.LXDStatusStopped)},
	"instance-shutdown":  {vmv1.RunStateShutdown, string(vmv1.LXDStatusStopped)},
	"instance-deleted":   {vmv1.RunStateShutdown, string(vmv1.LXDStatusDeleted)},
}

// RunStateOf maps LXD's instance status (GET /1.0/instances) to the API's
// run state. Thawed is the status of an instance just unfrozen: it runs.
func RunStateOf(status string) vmv1.RunState {
	switch vmv1.LXDStatus(status) {
	case vmv1.LXDStatusRunning, vmv1.LXDStatusThawed:
		return vmv1.RunStateRunning
	case vmv1.LXDStatusFrozen, vmv1.LXDStatusFreezing:
		return vmv1.RunStatePaused
	case vmv1.LXDStatusStopped, vmv1.LXDStatusStopping:
		return vmv1.RunStateShutdown
	case vmv1.LXDStatusError, vmv1.LXDStatusAborting:
		return vmv1.RunStateCrashed
	default:
		return vmv1.RunStateUnknown
	}
}

// Translate reads one frame. received stands in for a missing or bad
// timestamp. A frame it cannot understand returns an error wrapping
// ErrMalformed; frames with nothing to publish (operation progress, logging
// below warning, types it does not know) return TargetNone.
func Translate(raw []byte, received time.Time) (Outcome, error) {
	var f Frame
	if err := strictJSON(raw, &f); err != nil {
		return Outcome{}, malformed("not a JSON event: %s", model.Clean(err.Error(), maxValue))
	}
	at := received
	if f.Timestamp != "" {
		if t, err := time.Parse(time.RFC3339Nano, f.Timestamp); err == nil {
			at = t
		}
	}
	out := Outcome{Type: model.Clean(f.Type, 32), Location: model.Clean(f.Location, maxName)}
	if len(f.Metadata) == 0 || bytes.Equal(f.Metadata, []byte("null")) {
		return out, malformed("%s event without metadata", out.Type)
	}
	project := f.Project
	if project == "" {
		project = DefaultProject
	}
	var err error
	switch f.Type {
	case "lifecycle":
		var m Lifecycle
		if err := strictJSON(f.Metadata, &m); err != nil {
			return out, malformed("lifecycle metadata: %s", model.Clean(err.Error(), maxValue))
		}
		err = lifecycle(&out, m, project, at)
	case "operation":
		var m Operation
		if err := strictJSON(f.Metadata, &m); err != nil {
			return out, malformed("operation metadata: %s", model.Clean(err.Error(), maxValue))
		}
		operation(&out, m, project, at)
	case "logging":
		var m Logging
		if err := strictJSON(f.Metadata, &m); err != nil {
			return out, malformed("logging metadata: %s", model.Clean(err.Error(), maxValue))
		}
		logging(&out, m, project, at)
	default:
		// A newer LXD's event type: not ours to publish.
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.Occurrence.Note = model.Clean(out.Occurrence.Note, model.MaxNoteBytes)
	out.Occurrence.Series = model.Clean(out.Occurrence.Series, model.MaxFieldBytes)
	return out, nil
}

// strictJSON decodes one JSON value and nothing after it.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func lifecycle(out *Outcome, m Lifecycle, project string, at time.Time) error {
	if len(m.Action) > maxAction || !actionPattern.MatchString(m.Action) {
		return malformed("lifecycle action %q", model.Clean(m.Action, maxAction))
	}
	occ := model.Occurrence{Time: at, Action: m.Action, Reason: model.ReasonFor(m.Action)}
	inst, rest, isInstance := instancePath(m.Source, project)
	var b strings.Builder
	b.WriteString("LXD " + m.Action)
	ctx := m.Context
	if isInstance && strings.HasPrefix(m.Action, "instance-") {
		out.Target, out.Instance = TargetInstance, inst
		name := inst.Name
		if m.Action == "instance-renamed" {
			// Without a usable old name the event is still told; only
			// the VirtualMachine of the old name cannot follow.
			if old := contextString(ctx, "old_name"); old != "" && len(old) <= maxName && !strings.ContainsAny(old, "/?") {
				out.OldName = model.Clean(old, maxName)
				name = out.OldName + " → " + inst.Name
				ctx = without(ctx, "old_name") // told once, in the name
			}
		}
		b.WriteString(": instance " + name + " (project " + inst.Project + ")")
		if rest != "" {
			b.WriteString(", " + rest)
			occ.Series = rest
		}
		if rs, ok := runStates[m.Action]; ok {
			out.RunState, out.RunStateReason = rs.state, rs.reason
		}
	} else {
		out.Target = TargetNode
		if m.Source != "" {
			src := model.Clean(m.Source, maxValue)
			b.WriteString(": " + src)
			occ.Series = src
		}
	}
	if r := m.Requestor; r != nil && (r.Username != "" || r.Protocol != "" || r.Address != "") {
		b.WriteString(", requested by " + orDash(model.Clean(r.Username, 64)))
		if r.Protocol != "" {
			b.WriteString(" via " + model.Clean(r.Protocol, 32))
		}
		if r.Address != "" {
			b.WriteString(" from " + model.Clean(r.Address, 128))
		}
	}
	if note := contextNote(ctx); note != "" {
		b.WriteString("; " + note)
	}
	occ.Note = b.String()
	out.Occurrence = occ
	return nil
}

func operation(out *Outcome, m Operation, project string, at time.Time) {
	// Progress and success are told by the lifecycle events; a failure is
	// only told here.
	if m.Status != "Failure" {
		return
	}
	occ := model.Occurrence{Time: at, Action: "operation-failed", Reason: "OperationFailed", Warning: true}
	desc := model.Clean(m.Description, 128)
	occ.Series = desc
	errText := model.Clean(m.Err, 768)
	if errText == "" {
		errText = "no error given"
	}
	out.Target = TargetNode
	var b strings.Builder
	b.WriteString("LXD operation")
	if desc != "" {
		b.WriteString(" \"" + desc + "\"")
	}
	for _, kind := range []string{"instances", "containers", "virtual-machines"} {
		for _, res := range m.Resources[kind] {
			if inst, _, ok := instancePath(res, project); ok {
				out.Target, out.Instance = TargetInstance, inst
				b.WriteString(" on instance " + inst.Name + " (project " + inst.Project + ")")
				break
			}
		}
		if out.Target == TargetInstance {
			break
		}
	}
	b.WriteString(" failed: " + errText)
	if id := model.Clean(m.ID, 64); id != "" {
		b.WriteString(" (operation " + id + ")")
	}
	occ.Note = b.String()
	out.Occurrence = occ
}

// logLevels are the levels published; LXD has used both logrus's and
// log15's names.
var logLevels = map[string]string{
	"warn": "warning", "warning": "warning",
	"eror": "error", "error": "error",
	"crit": "critical", "critical": "critical", "fatal": "critical", "panic": "critical",
}

func logging(out *Outcome, m Logging, project string, at time.Time) {
	level, ok := logLevels[strings.ToLower(m.Level)]
	if !ok {
		return
	}
	action := "log-" + level
	msg := model.Clean(m.Message, 512)
	occ := model.Occurrence{Time: at, Action: action, Reason: model.ReasonFor(action), Warning: true, Series: model.Clean(m.Message, 128)}
	out.Target = TargetNode
	if name := m.Context["instance"]; name != "" && len(name) <= maxName && !strings.ContainsAny(name, "/?") {
		p := m.Context["project"]
		if p == "" || len(p) > maxName {
			p = project
		}
		out.Target, out.Instance = TargetInstance, Instance{Project: model.Clean(p, maxName), Name: model.Clean(name, maxName)}
	}
	ctx := map[string]json.RawMessage{}
	for k, v := range m.Context {
		if k == "instance" || k == "project" {
			continue
		}
		if raw, err := json.Marshal(v); err == nil {
			ctx[k] = raw
		}
	}
	occ.Note = "LXD " + level + ": " + msg
	if s := contextNote(ctx); s != "" {
		occ.Note += "; " + s
	}
	out.Occurrence = occ
}

// instancePath reads /1.0/instances/NAME[/rest][?project=P] (or the older
// /1.0/containers and /1.0/virtual-machines).
func instancePath(source, project string) (Instance, string, bool) {
	u, err := url.Parse(source)
	if err != nil {
		return Instance{}, "", false
	}
	parts := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 4)
	if len(parts) < 3 || parts[0] != "1.0" || parts[2] == "" {
		return Instance{}, "", false
	}
	switch parts[1] {
	case "instances", "containers", "virtual-machines":
	default:
		return Instance{}, "", false
	}
	if p := u.Query().Get("project"); p != "" {
		project = p
	}
	name := parts[2]
	if len(name) > maxName || len(project) > maxName {
		return Instance{}, "", false
	}
	rest := ""
	if len(parts) == 4 {
		rest = model.Clean(parts[3], maxValue)
	}
	return Instance{Project: model.Clean(project, maxName), Name: model.Clean(name, maxName)}, rest, true
}

// without is ctx less key (a copy: the frame's map is left alone).
func without(ctx map[string]json.RawMessage, key string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(ctx))
	for k, v := range ctx {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// contextString is a string value of the context, or "".
func contextString(ctx map[string]json.RawMessage, key string) string {
	var s string
	if err := json.Unmarshal(ctx[key], &s); err != nil {
		return ""
	}
	return s
}

// contextNote renders the context as sorted key=value pairs, strings bare,
// anything else as compact JSON, every part bounded.
func contextNote(ctx map[string]json.RawMessage) string {
	if len(ctx) == 0 {
		return ""
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := ctx[k]
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var buf bytes.Buffer
			if json.Compact(&buf, v) == nil {
				s = buf.String()
			} else {
				s = string(v)
			}
		}
		parts = append(parts, model.Clean(k, 64)+"="+model.Clean(s, maxValue))
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
