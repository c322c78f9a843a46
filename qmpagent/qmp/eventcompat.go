package qmp

import (
	"bytes"
	"encoding/json"
)

// Some events reach the agent in two spellings: the one QEMU's schema
// defines (qapi/*.json, what QEMU sends) and the one of QEMU's older
// hand-written event catalogue (docs/qmp-events.txt), which tools that
// replay or forge events still follow. Both decode to the same value.

// UnmarshalJSON takes the count from QEMU's "sectors-count" or, when that
// is absent, from the catalogue's "sector-count".
func (e *QuorumFailureEvent) UnmarshalJSON(b []byte) error {
	type plain QuorumFailureEvent
	var v struct {
		plain
		SectorCount *int64 `json:"sector-count"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = QuorumFailureEvent(v.plain)
	e.SectorsCount = sectorsCount(b, e.SectorsCount, v.SectorCount)
	return nil
}

// UnmarshalJSON takes the count from QEMU's "sectors-count" or, when that
// is absent, from the catalogue's "sector-count".
func (e *QuorumReportBadEvent) UnmarshalJSON(b []byte) error {
	type plain QuorumReportBadEvent
	var v struct {
		plain
		SectorCount *int64 `json:"sector-count"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = QuorumReportBadEvent(v.plain)
	e.SectorsCount = sectorsCount(b, e.SectorsCount, v.SectorCount)
	return nil
}

// sectorsCount is the schema's count when the object has it, else the
// catalogue's.
func sectorsCount(b []byte, schema int64, catalogue *int64) int64 {
	if catalogue == nil || hasMember(b, "sectors-count") {
		return schema
	}
	return *catalogue
}

// hasMember reports whether the JSON object b has a member called name.
func hasMember(b []byte, name string) bool {
	var members map[string]json.RawMessage
	if json.Unmarshal(b, &members) != nil {
		return false
	}
	_, ok := members[name]
	return ok
}

// UnmarshalJSON decodes QEMU's {"info": {...}} as well as the catalogue's
// flat form, whose ACPIOSTInfo members sit directly in the event data.
func (e *ACPIDeviceOSTEvent) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*e = ACPIDeviceOSTEvent{}
		return nil
	}
	if hasMember(b, "info") {
		var v struct {
			Info ACPIOSTInfo `json:"info"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*e = ACPIDeviceOSTEvent(v)
		return nil
	}
	var info ACPIOSTInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return err
	}
	*e = ACPIDeviceOSTEvent{Info: info}
	return nil
}
