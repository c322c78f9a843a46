package qmpsource

import (
	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// sink connects one VM's session to the Publisher and keeps the metrics.
type sink struct {
	pub    source.Publisher
	target source.Target

	connected  bool
	reconnects int64
	shed       int64
	started    bool
}

func (s *sink) Facts(f model.Facts) {
	connected := f.Monitor.State == vmv1.MonitorConnected
	if connected != s.connected {
		if connected {
			metrics.SessionsConnected.Inc()
		} else {
			metrics.SessionsConnected.Dec()
		}
		s.connected = connected
	}
	if s.started {
		if d := f.Monitor.Reconnects - s.reconnects; d > 0 {
			metrics.Reconnects.Add(float64(d))
		}
		if d := f.Delivery.Shed - s.shed; d > 0 {
			metrics.EventsShed.WithLabelValues("queue-overflow").Add(float64(d))
		}
	}
	s.started, s.reconnects, s.shed = true, f.Monitor.Reconnects, f.Delivery.Shed
	// The QMP session knows everything but the devices libvirt reports and
	// the Events the apiserver refused, which the agent counts.
	s.pub.UpdateFacts(s.target.Key, func(cur *model.Facts) {
		resources, refused := cur.Resources, cur.Delivery.Refused
		*cur = f
		cur.Resources, cur.Delivery.Refused = resources, refused
	})
}

func (s *sink) Occurred(o model.Occurrence) bool {
	metrics.EventsReceived.WithLabelValues(vmv1.SourceQMP, model.QMPMetricName(o.Action)).Inc()
	return s.pub.Publish(s.target.Ref, o, vmv1.SourceQMP)
}

// close accounts for the end of the session.
func (s *sink) close() {
	if s.connected {
		metrics.SessionsConnected.Dec()
		s.connected = false
	}
}
