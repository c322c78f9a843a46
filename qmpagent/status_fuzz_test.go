package qmpagent

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// crdPath is the CRD the apiserver validates VirtualMachines with.
const crdPath = "../config/crd/bases/vmevents.dev_virtualmachines.yaml"

// maxStatusBytes is what the agent's part of a status may weigh: well
// under etcd's 1.5 MiB request limit, with room for the spec, metadata
// and the controller's conditions.
const maxStatusBytes = 1 << 20

// statusSchema validates a status as the apiserver does: the CRD's OpenAPI
// schema (sizes, lengths, enums) and its list types (set and map keys
// unique).
type statusSchema struct {
	validator  validation.SchemaValidator
	structural *schema.Structural
}

func loadStatusSchema(t testing.TB) statusSchema {
	data, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != vmv1.GroupVersion.Version {
			continue
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			t.Fatal(err)
		}
		status := internal.Properties["status"]
		validator, _, err := validation.NewSchemaValidator(&status)
		if err != nil {
			t.Fatal(err)
		}
		structural, err := schema.NewStructural(&status)
		if err != nil {
			t.Fatal(err)
		}
		return statusSchema{validator: validator, structural: structural}
	}
	t.Fatalf("%s has no version %s", crdPath, vmv1.GroupVersion.Version)
	return statusSchema{}
}

// check returns what the apiserver would refuse in the status of f.
func (s statusSchema) check(f model.Facts) (field.ErrorList, int, error) {
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptrTo(StatusFromFacts(f)))
	if err != nil {
		return nil, 0, err
	}
	data, err := json.Marshal(status)
	if err != nil {
		return nil, 0, err
	}
	// Validated as the apiserver sees it: after a JSON round trip.
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, 0, err
	}
	path := field.NewPath("status")
	errs := validation.ValidateCustomResource(path, obj, s.validator)
	errs = append(errs, listtype.ValidateListSetsAndMaps(path, s.structural, obj)...)
	return errs, len(data), nil
}

// factsGen makes facts from fuzz bytes: a header of counts, then the bytes
// every string is cut from.
type factsGen struct {
	b   []byte
	pos int
}

func (g *factsGen) num(limit int) int {
	if len(g.b) < 2 {
		return 0
	}
	v := int(binary.BigEndian.Uint16(g.b))
	g.b = g.b[2:]
	return v % (limit + 1)
}

// str is a string of n bytes taken cyclically from the material: any
// byte, valid UTF-8 or not.
func (g *factsGen) str(n int, material []byte) string {
	if len(material) == 0 {
		return fmt.Sprint(n)
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = material[(g.pos+i)%len(material)]
	}
	g.pos += n
	return string(out)
}

// fuzzFacts builds facts as a peer could make them: many entries, long and
// invalid strings, values outside the enums, and QMP events applied.
func fuzzFacts(data []byte) model.Facts {
	g := &factsGen{b: data}
	// Each cap is a little over the schema's, so every one can be crossed,
	// and small enough to keep an execution quick.
	sessions, disks, quorum, names, resources := g.num(80), g.num(80), g.num(80), g.num(600), g.num(300)
	strLen, events := g.num(1200), g.num(32)
	m := g.b
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i%1000) * time.Second) }
	f := model.Facts{
		RunState: vmv1.RunState(g.str(strLen%12, m)), RunStateReason: g.str(strLen, m),
		Monitor: model.Monitor{
			State: vmv1.MonitorState(g.str(strLen%12, m)), Source: g.str(strLen%8, m), Endpoint: g.str(strLen, m),
			QEMUVersion: g.str(strLen, m), VMName: g.str(strLen, m), VMUUID: g.str(strLen, m), LastError: g.str(strLen, m),
		},
		LastPanic:         &model.Panic{Time: t0, Action: g.str(strLen, m), Info: g.str(strLen, m)},
		LastWatchdog:      &model.Watchdog{Time: t0, Action: g.str(strLen, m)},
		LastReset:         &model.Reset{Time: t0, Reason: g.str(strLen, m)},
		LastMemoryFailure: &model.MemoryFailure{Time: t0, Recipient: g.str(strLen, m), Action: g.str(strLen, m)},
	}
	protocols := []string{"vnc", "spice", g.str(strLen%8, m)}
	for i := range sessions {
		d := model.DisplaySession{Protocol: protocols[i%3], Client: g.str(strLen, m) + fmt.Sprint(i), Since: at(i), Auth: g.str(strLen, m), Username: g.str(strLen, m)}
		if f.Display == nil {
			f.Display = map[string]model.DisplaySession{}
		}
		f.Display[d.Key()] = d
	}
	for i := range disks {
		b := model.BlockError{Device: g.str(strLen, m) + fmt.Sprint(i), Operation: g.str(strLen, m), Action: g.str(strLen, m), Reason: g.str(strLen, m), Count: 1, LastTime: at(i)}
		if f.BlockErrors == nil {
			f.BlockErrors = map[string]model.BlockError{}
		}
		f.BlockErrors[b.Device] = b
	}
	kinds := []vmv1.QuorumFaultKind{vmv1.QuorumFaultNoQuorum, vmv1.QuorumFaultBadChild, vmv1.QuorumFaultKind(g.str(strLen%8, m))}
	for i := range quorum {
		q := model.QuorumFault{Node: g.str(strLen, m) + fmt.Sprint(i), Kind: kinds[i%3], Operation: g.str(strLen, m), Error: g.str(strLen, m), Count: 1, LastTime: at(i)}
		if f.QuorumFaults == nil {
			f.QuorumFaults = map[string]model.QuorumFault{}
		}
		f.QuorumFaults[q.Key()] = q
	}
	for i := range names {
		f.Count(g.str(strLen%128, m)+fmt.Sprint(i), int64(i%7+1))
	}
	for i := range resources {
		f.Resources.Disks = append(f.Resources.Disks, g.str(strLen, m)+fmt.Sprint(i%280))
		f.Resources.NICs = append(f.Resources.NICs, g.str(strLen%32, m))
	}
	qmpNames := []string{"GUEST_PANICKED", "VNC_CONNECTED", "VNC_INITIALIZED", "BLOCK_IO_ERROR", "QUORUM_REPORT_BAD", "WATCHDOG", "RESET", "SPICE_CONNECTED", "MEMORY_FAILURE"}
	for i := range events {
		name := qmpNames[i%len(qmpNames)]
		if i%5 == 4 {
			name = g.str(strLen%100, m)
		}
		model.ApplyQMP(&f, qmp.Event{Name: name, Data: json.RawMessage(g.str(strLen, m))}, at(i))
	}
	return f
}

// poisonSeed is a fuzz input: counts (sessions, disks, quorum faults,
// event names, resources, string length, QMP events) and string material.
func poisonSeed(counts [7]uint16, material string) []byte {
	var out []byte
	for _, c := range counts {
		out = binary.BigEndian.AppendUint16(out, c)
	}
	return append(out, material...)
}

// FuzzStatusSchema: whatever the facts, the status the agent writes is one
// the apiserver takes.
func FuzzStatusSchema(f *testing.F) {
	for _, seed := range [][]byte{
		poisonSeed([7]uint16{65, 0, 0, 0, 0, 16, 0}, "10.0.0.1:5900"),         // 65 VNC clients
		poisonSeed([7]uint16{0, 65, 0, 0, 0, 16, 0}, "virtio-disk"),           // 65 failing disks
		poisonSeed([7]uint16{0, 0, 65, 0, 0, 16, 0}, "quorum-child"),          // 65 quorum faults
		poisonSeed([7]uint16{0, 0, 0, 600, 0, 16, 0}, "EVENT_"),               // hundreds of event names
		poisonSeed([7]uint16{1, 1, 1, 1, 1, 1200, 8}, "reset-watchdog-panic"), // long action strings
		poisonSeed([7]uint16{0, 0, 0, 0, 300, 1200, 0}, "/var/lib/images/x"),  // too many, too long disks
		poisonSeed([7]uint16{9, 0, 0, 0, 0, 12, 64}, "\xff\u202e\x00spice"),   // invalid UTF-8, control and format characters
	} {
		f.Add(seed)
	}
	s := loadStatusSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		errs, size, err := s.check(fuzzFacts(data))
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			t.Fatalf("the apiserver would refuse the status: %v", errs.ToAggregate())
		}
		if size > maxStatusBytes {
			t.Fatalf("a status of %d bytes, over %d", size, maxStatusBytes)
		}
	})
}
