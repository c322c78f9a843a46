package qmp

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Event is one asynchronous QMP event, or a gap marker.
//
// Data is the event's "data" member exactly as QEMU sent it (nil when the
// event has none), so fields this package does not know about are never
// lost. Decode turns it into the typed struct for the event's name.
//
// When Gap is non-nil the Event is not from QEMU: it marks the place in
// the stream where the client shed events because the consumer fell
// behind. Name and Data are then empty and Timestamp is that of the last
// shed event. A consumer that sees a gap must re-sync any state it builds
// from events (for example with QueryStatus).
type Event struct {
	// Name is the event name, for example "SHUTDOWN".
	Name string
	// Data is the raw JSON of the event's "data" member, or nil.
	Data json.RawMessage
	// Timestamp is when QEMU emitted the event.
	Timestamp Timestamp
	// Gap is non-nil only for a gap marker.
	Gap *Gap
}

// Timestamp is QEMU's event time: seconds and microseconds since the Unix
// epoch. QEMU reports -1/-1 when it could not read the clock.
type Timestamp struct {
	Seconds      int64 `json:"seconds"`
	Microseconds int64 `json:"microseconds"`
}

// unknownTimestamp is what QEMU sends when it cannot read the host clock,
// and what this package records for an event that carried no timestamp.
var unknownTimestamp = Timestamp{Seconds: -1, Microseconds: -1}

// Known reports whether the timestamp holds a real time. QEMU sends -1/-1
// when the host clock could not be read.
func (t Timestamp) Known() bool { return !(t.Seconds == -1 && t.Microseconds == -1) }

// Time converts the timestamp. The second result is false when the
// timestamp is unknown, in which case the time is the zero time.
func (t Timestamp) Time() (time.Time, bool) {
	if !t.Known() {
		return time.Time{}, false
	}
	// Microseconds, not nanoseconds: a common bug in other clients.
	return time.Unix(t.Seconds, t.Microseconds*int64(time.Microsecond)), true
}

// String formats a known timestamp as RFC 3339 with microseconds.
func (t Timestamp) String() string {
	tm, ok := t.Time()
	if !ok {
		return "unknown"
	}
	return tm.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// Gap records events the client shed because its event queue was full.
//
// Counts are exact and per event name: a consumer that keeps per-event
// counters adds Lost[name] to its counter for name and stays exact. Last
// holds the most recent shed event of each name so that a consumer that
// only cares about the latest state (the last RTC_CHANGE offset, the last
// BALLOON_CHANGE size) loses nothing it needs.
//
// The number of distinct unknown names kept is bounded by MaxGapNames;
// events with further unknown names are accounted under OtherEvents. Known
// names (those this package decodes) are always kept, so a peer flooding
// invented names cannot push a fault (GUEST_PANICKED) out of a gap.
type Gap struct {
	// Lost is the number of shed events per event name.
	Lost map[string]uint64
	// Last is the last shed event per event name.
	Last map[string]Event
}

// MaxGapNames bounds the distinct event names one Gap tracks, so that a
// peer inventing names cannot grow a gap without limit. QEMU has well
// under a hundred event names.
const MaxGapNames = 256

// OtherEvents is the Gap key under which events are counted once a gap
// already tracks MaxGapNames distinct names.
const OtherEvents = "*"

// Total returns the number of events the gap stands for.
func (g *Gap) Total() uint64 {
	var n uint64
	for _, c := range g.Lost {
		n += c
	}
	return n
}

// Names returns the event names in the gap, sorted.
func (g *Gap) Names() []string {
	names := make([]string, 0, len(g.Lost))
	for name := range g.Lost {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// add accounts one shed event.
func (g *Gap) add(ev Event) {
	name := ev.Name
	if _, ok := g.Lost[name]; !ok && len(g.Lost) >= MaxGapNames && eventDecoders[name] == nil {
		name = OtherEvents
	}
	g.Lost[name]++
	g.Last[name] = ev
}

func newGap() *Gap {
	return &Gap{Lost: make(map[string]uint64), Last: make(map[string]Event)}
}

// Decode returns the typed struct for the event, for example a
// ShutdownEvent for "SHUTDOWN" (a value, not a pointer, so that a type
// switch reads naturally). For a name without a typed struct it returns
// ErrUnknownEvent; the raw Data stays usable. Fields the struct does not
// know are ignored, and fields QEMU omitted keep their zero values.
func (e Event) Decode() (any, error) {
	if e.Gap != nil {
		return nil, fmt.Errorf("qmp: cannot decode a gap marker")
	}
	dec, ok := eventDecoders[e.Name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, e.Name)
	}
	v, err := dec(e.Data)
	if err != nil {
		return nil, fmt.Errorf("qmp: decoding %s data: %w", e.Name, err)
	}
	return v, nil
}

// DecodeData decodes the event's data into a T, for callers that know the
// type they expect:
//
//	sd, err := qmp.DecodeData[qmp.ShutdownEvent](ev)
func DecodeData[T any](e Event) (T, error) {
	var v T
	if len(e.Data) == 0 {
		return v, nil
	}
	err := json.Unmarshal(e.Data, &v)
	return v, err
}

// KnownEvent reports whether Decode has a typed struct for the name.
func KnownEvent(name string) bool {
	_, ok := eventDecoders[name]
	return ok
}

// KnownEvents returns every event name Decode knows, sorted.
func KnownEvents() []string {
	names := make([]string, 0, len(eventDecoders))
	for name := range eventDecoders {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// eventDecoders maps an event name to a function decoding its data.
var eventDecoders = map[string]func(json.RawMessage) (any, error){}

// internedNames maps every known event name to itself, so that the reader
// can turn a name's bytes into a string without allocating.
var internedNames = map[string]string{}

// register binds an event name to its typed struct.
func register[T any](name string) {
	eventDecoders[name] = func(data json.RawMessage) (any, error) {
		var v T
		if len(data) == 0 {
			return v, nil
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	internedNames[name] = name
}
