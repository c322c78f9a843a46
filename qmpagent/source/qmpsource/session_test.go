package qmpsource

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/vmevents/vmevents/test/framework/poll"

	"github.com/go-logr/logr"

	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// recorder is a Sink that keeps the newest facts and every occurrence.
type recorder struct {
	mu    sync.Mutex
	facts model.Facts
	occs  []model.Occurrence
}

func (r *recorder) Facts(f model.Facts) { r.mu.Lock(); r.facts = f; r.mu.Unlock() }
func (r *recorder) Occurred(o model.Occurrence) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.occs = append(r.occs, o)
	return false
}
func (r *recorder) last() model.Facts { r.mu.Lock(); defer r.mu.Unlock(); return r.facts.Clone() }

func TestSessionCountsEveryEventOfAStormWithASmallQueue(t *testing.T) {
	const storm = 5000
	srv := qmptest.NewServer(t)
	srv.Serve(func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- p.Respond(qmptest.RunningQEMU) }()
		for i := range storm {
			if err := p.Event("RTC_CHANGE", map[string]any{"offset": i}); err != nil {
				return err
			}
		}
		if err := p.Event("WATCHDOG", map[string]any{"action": "pause"}); err != nil {
			return err
		}
		return <-done
	})
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{SocketPath: srv.Path, Roots: []string{os.TempDir()}, Sink: rec, QMP: qmp.Options{QueueSize: 16}, Log: logr.Discard()}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	poll.Until(t, "every event counted", func() bool {
		f := rec.last()
		return f.EventCounts["RTC_CHANGE"] == storm && f.EventCounts["WATCHDOG"] == 1
	})
	f := rec.last()
	if *f.RTCOffsetSeconds != storm-1 || f.LastWatchdog == nil {
		t.Errorf("facts after the storm: offset %v, watchdog %+v", *f.RTCOffsetSeconds, f.LastWatchdog)
	}
}
