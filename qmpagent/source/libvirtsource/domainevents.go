package libvirtsource

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// The libvirt domain events, beside lifecycle, that QMP does not carry
// (control-error), or carries only for domains whose QEMU events the agent
// follows (reboot is QMP's RESET; device-added and device-removed are
// DEVICE_ADDED and DEVICE_DELETED, without the host-side view).
var domainEventIDs = []libvirt.DomainEventID{
	libvirt.DomainEventIDControlError, libvirt.DomainEventIDReboot,
	libvirt.DomainEventIDDeviceAdded, libvirt.DomainEventIDDeviceRemoved,
}

// Kinds of domainEvent.
const (
	eventControlError  = "control-error"
	eventReboot        = "reboot"
	eventDeviceAdded   = "device-added"
	eventDeviceRemoved = "device-removed"
)

// domainEvent is one of those events, with what the agent asked libvirt
// about it.
type domainEvent struct {
	kind string
	dom  libvirt.Domain
	// alias is the device's alias (virtio-disk1, usb-disk1, net0).
	alias string
	// control is why libvirt lost control (virDomainControlErrorReason),
	// -1 when it could not be asked.
	control int32
	// devices are the domain's disks and NICs after a device event, as its
	// live definition lists them; nil when it could not be read.
	devices *model.Resources
}

// subscribeDomainEvents subscribes to domainEventIDs and merges them into
// one channel, drained until the connection's context ends.
func subscribeDomainEvents(ctx context.Context, l *libvirt.Libvirt, wg *sync.WaitGroup) (<-chan any, error) {
	out := make(chan any)
	for _, id := range domainEventIDs {
		ch, err := l.SubscribeEvents(ctx, id, libvirt.OptDomain{})
		if err != nil {
			return nil, fmt.Errorf("subscribing to domain event %d: %w", id, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Drain until the library closes the stream, so that its
			// sender never blocks.
			for ev := range ch {
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			}
		}()
	}
	return out, nil
}

// readDomainEvent turns a go-libvirt message into a domainEvent, asking
// libvirtd what the message does not say; false for any other message.
func readDomainEvent(l *libvirt.Libvirt, msg any) (domainEvent, bool) {
	e := domainEvent{control: -1}
	switch ev := msg.(type) {
	case *libvirt.DomainEventCallbackControlErrorMsg:
		e.kind, e.dom = eventControlError, ev.Msg.Dom
		if _, details, _, err := l.DomainGetControlInfo(e.dom, 0); err == nil && details < 1<<16 {
			e.control = int32(details)
		}
	case *libvirt.DomainEventCallbackRebootMsg:
		e.kind, e.dom = eventReboot, ev.Msg.Dom
	case *libvirt.DomainEventCallbackDeviceAddedMsg:
		e.kind, e.dom, e.alias = eventDeviceAdded, ev.Dom, ev.DevAlias
	case *libvirt.DomainEventCallbackDeviceRemovedMsg:
		e.kind, e.dom, e.alias = eventDeviceRemoved, ev.Msg.Dom, ev.Msg.DevAlias
	default:
		return e, false
	}
	if e.kind == eventDeviceAdded || e.kind == eventDeviceRemoved {
		if x, err := l.DomainGetXMLDesc(e.dom, 0); err == nil {
			e.devices = liveDevices(x)
		}
	}
	return e, true
}

// handleDomainEvent publishes a domainEvent. A reboot of a domain whose
// QEMU events the agent follows is QMP's RESET, already told with who
// reset it.
func (m *Monitor) handleDomainEvent(ctx context.Context, e domainEvent, followed bool) {
	if e.kind == eventReboot && followed {
		return
	}
	t, found := m.resolver.resolve(ctx, formatUUID(e.dom.UUID), e.dom.Name, "lifecycle")
	if !found {
		return
	}
	var occ model.Occurrence
	now := m.now()
	m.pub.UpdateFacts(t.Key, func(f *model.Facts) { occ = e.apply(f, now) })
	metrics.EventsReceived.WithLabelValues(vmv1.SourceLibvirt, occ.Action).Inc()
	source.Tell(m.pub, t, occ, vmv1.SourceLibvirt)
}

// controlErrors are libvirt's virDomainControlErrorReason words.
var controlErrors = []string{"no reason given", "an unknown error", "an error on its QEMU monitor connection", "an internal error in libvirt"}

// apply records the event in the facts and returns what to publish.
func (e domainEvent) apply(f *model.Facts, now time.Time) model.Occurrence {
	action := "libvirt-domain-" + e.kind
	occ := model.Occurrence{Time: now, Action: action, Reason: model.ReasonFor(action)}
	name := fmt.Sprintf("domain %q", model.Clean(e.dom.Name, model.MaxFieldBytes))
	alias := model.Clean(e.alias, model.MaxFieldBytes)
	switch e.kind {
	case eventControlError:
		why := "a reason libvirt did not say"
		if e.control >= 0 && int(e.control) < len(controlErrors) {
			why = controlErrors[e.control]
		}
		occ.Warning, occ.Series = true, why
		occ.Note = fmt.Sprintf("libvirt lost control of %s: %s", name, why)
		if f.Monitor.Source == vmv1.SourceLibvirt {
			f.Monitor.LastError = model.Clean("libvirt control error: "+why, 1024)
		}
	case eventReboot:
		occ.Note = fmt.Sprintf("libvirt: %s was reset", name)
		f.LastReset = &model.Reset{Time: now, Reason: "libvirt-reboot"}
	case eventDeviceAdded, eventDeviceRemoved:
		occ.Series = alias
		occ.Note = fmt.Sprintf("libvirt: device %q added to %s", alias, name)
		if e.kind == eventDeviceRemoved {
			occ.Note = fmt.Sprintf("libvirt: device %q removed from %s", alias, name)
		}
		if e.devices != nil {
			f.Resources.Disks, f.Resources.NICs = e.devices.Disks, e.devices.NICs
		}
	}
	f.Count(action, 1)
	occ.Note = model.Clean(occ.Note, model.MaxNoteBytes)
	return occ
}

// liveXML is what the agent reads of a domain's live definition: the
// host paths of its local disks and the MACs of its NICs, as the audit
// records name them.
type liveXML struct {
	Disks []struct {
		Source struct {
			File string `xml:"file,attr"`
			Dev  string `xml:"dev,attr"`
			Dir  string `xml:"dir,attr"`
		} `xml:"source"`
	} `xml:"devices>disk"`
	NICs []struct {
		MAC struct {
			Address string `xml:"address,attr"`
		} `xml:"mac"`
	} `xml:"devices>interface"`
}

// liveDevices reads the disks and NICs of a domain's XML; nil when it
// cannot be read.
func liveDevices(x string) *model.Resources {
	var d liveXML
	if len(x) > 4<<20 || xml.Unmarshal([]byte(x), &d) != nil {
		return nil
	}
	var r model.Resources
	for _, disk := range d.Disks {
		s := disk.Source
		r.Disks = swap(r.Disks, "", s.File+s.Dev+s.Dir) // one of them is set, or none (network, empty CD-ROM)
	}
	for _, nic := range d.NICs {
		r.NICs = swap(r.NICs, "", strings.ToLower(nic.MAC.Address))
	}
	return &r
}
