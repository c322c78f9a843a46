package model

import (
	"fmt"
	"strings"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// blockDevice names a block device the way users know it: the device (or
// qdev id) when QEMU gives one, the node name otherwise.
func blockDevice(device, node string) string {
	if device != "" {
		return s(device)
	}
	return s(node)
}

func blockIOError(f *Facts, v any, at time.Time) detail {
	e := v.(qmp.BlockIOErrorEvent)
	dev := blockDevice(e.Device, e.NodeName)
	nospace := e.NoSpace != nil && *e.NoSpace
	if f.BlockErrors == nil {
		f.BlockErrors = map[string]BlockError{}
	}
	be := f.BlockErrors[dev]
	be.Device, be.Operation, be.Action, be.NoSpace = dev, s(string(e.Operation)), s(string(e.Action)), nospace
	be.Reason = s(e.Reason)
	be.Count++
	be.LastTime = at
	f.BlockErrors[dev] = be

	what := "error"
	if e.Operation != "" {
		what = string(e.Operation) + " error"
	}
	reason := s(e.Reason)
	if reason == "" {
		reason = "I/O error"
	}
	note := fmt.Sprintf("%s on %s: %s", upperFirst(what), dev, reason)
	switch e.Action {
	case qmp.BlockErrorActionStop:
		note += "; VM stopped"
		f.SetRunState(vmv1.RunStatePaused, string(qmp.RunStateIOError), at)
	case qmp.BlockErrorActionReport:
		note += "; error reported to the guest"
	case qmp.BlockErrorActionIgnore:
		note += "; error ignored"
	}
	if nospace {
		note += " (no space left)"
	}
	return detail{note: note, series: dev + "/" + s(string(e.Operation)) + "/" + s(string(e.Action))}
}

func upperFirst(w string) string {
	if w == "" {
		return w
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

func blockImageCorrupted(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.BlockImageCorruptedEvent)
	dev := blockDevice(e.Device, e.NodeName)
	note := fmt.Sprintf("Image of %s is corrupted: %s", dev, s(e.Msg))
	if e.Fatal {
		note += "; image marked corrupt, further writes refused"
	}
	return detail{note: note, series: dev}
}

func blockJob(what string) handler {
	return func(_ *Facts, v any, _ time.Time) detail {
		var typ, dev, errText string
		switch e := v.(type) {
		case qmp.BlockJobCompletedEvent:
			typ, dev, errText = string(e.Type), e.Device, e.Error
		case qmp.BlockJobCancelledEvent:
			typ, dev = string(e.Type), e.Device
		case qmp.BlockJobReadyEvent:
			typ, dev = string(e.Type), e.Device
		}
		note := fmt.Sprintf("Block job %s (%s) %s", s(dev), s(typ), what)
		if errText != "" {
			note += ": " + s(errText)
		}
		return detail{note: note, series: s(dev)}
	}
}

func blockJobError(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.BlockJobErrorEvent)
	return detail{
		note:   fmt.Sprintf("Block job %s: %s error; action: %s", s(e.Device), s(string(e.Operation)), s(string(e.Action))),
		series: s(e.Device) + "/" + s(string(e.Operation)),
	}
}

func blockJobPending(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.BlockJobPendingEvent)
	return detail{note: fmt.Sprintf("Block job %s (%s) waiting to finalize", s(e.ID), s(string(e.Type))), series: s(e.ID)}
}

func blockWriteThreshold(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.BlockWriteThresholdEvent)
	return detail{
		note:   fmt.Sprintf("Writes on %s passed the threshold of %d bytes by %d bytes", s(e.NodeName), e.WriteThreshold, e.AmountExceeded),
		series: s(e.NodeName),
	}
}

// recordQuorumFault adds one fault to the facts of q's node and kind.
func recordQuorumFault(f *Facts, q QuorumFault) {
	if f.QuorumFaults == nil {
		f.QuorumFaults = map[string]QuorumFault{}
	}
	q.Count = f.QuorumFaults[q.Key()].Count + 1
	f.QuorumFaults[q.Key()] = q
}

func quorumFailure(f *Facts, v any, at time.Time) detail {
	e := v.(qmp.QuorumFailureEvent)
	recordQuorumFault(f, QuorumFault{
		Node: s(e.Reference), Kind: vmv1.QuorumFaultNoQuorum,
		SectorNum: e.SectorNum, SectorsCount: e.SectorsCount, LastTime: at,
	})
	return detail{
		note:   fmt.Sprintf("Quorum %s lost: no majority for %s", s(e.Reference), sectors(e.SectorNum, e.SectorsCount)),
		series: s(e.Reference),
	}
}

func quorumReportBad(f *Facts, v any, at time.Time) detail {
	e := v.(qmp.QuorumReportBadEvent)
	if e.Type == "" {
		e.Type = qmp.QuorumOpRead // QEMU before 2.6 reported only reads, without a type
	}
	recordQuorumFault(f, QuorumFault{
		Node: s(e.NodeName), Kind: vmv1.QuorumFaultBadChild, Operation: s(string(e.Type)), Error: s(e.Error),
		SectorNum: e.SectorNum, SectorsCount: e.SectorsCount, LastTime: at,
	})
	note := fmt.Sprintf("Quorum child %s: bad %s of %s", s(e.NodeName), s(string(e.Type)), sectors(e.SectorNum, e.SectorsCount))
	if e.Error != "" {
		note += ": " + s(e.Error)
	}
	return detail{note: note, series: s(e.NodeName) + "/" + s(string(e.Type))}
}

// sectors puts a quorum event's sector range into words; a count QEMU did
// not give (0) names the first sector only, never an inverted range.
func sectors(first, count int64) string {
	switch {
	case count == 1:
		return fmt.Sprintf("sector %d", first)
	case count > 1:
		return fmt.Sprintf("sectors %d-%d", first, first+count-1)
	default:
		return fmt.Sprintf("sectors from %d", first)
	}
}

func deviceTrayMoved(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.DeviceTrayMovedEvent)
	state := "closed"
	if e.TrayOpen {
		state = "opened"
	}
	return detail{note: fmt.Sprintf("Tray of %s %s", blockDevice(e.ID, e.Device), state), series: blockDevice(e.ID, e.Device) + "/" + state}
}

func jobStatusChange(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.JobStatusChangeEvent)
	return detail{note: fmt.Sprintf("Job %s is now %s", s(e.ID), s(string(e.Status))), series: s(e.ID) + "/" + s(string(e.Status))}
}
