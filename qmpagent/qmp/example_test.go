package qmp_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// A watcher that keeps exact per-event counters and re-syncs the run
// state after a gap.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := qmp.Dial(ctx, "/run/vm1/qmp.sock", qmp.Options{})
	if errors.Is(err, qmp.ErrMonitorBusy) {
		log.Fatal("another client holds the monitor")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	counts := map[string]uint64{}
	for ev := range c.Events() {
		if ev.Gap != nil {
			for name, n := range ev.Gap.Lost {
				counts[name] += n
			}
			st, err := c.QueryStatus(ctx)
			if err == nil {
				log.Printf("after a gap of %d events the VM is %s", ev.Gap.Total(), st.Status)
			}
			continue
		}
		counts[ev.Name]++
		switch e, _ := ev.Decode(); e := e.(type) {
		case qmp.WatchdogEvent:
			log.Printf("watchdog fired at %s, action %s", ev.Timestamp, e.Action)
		case qmp.BlockIOErrorEvent:
			log.Printf("I/O error on %s (%s): %s", e.Device, e.Operation, e.Reason)
		}
	}
	log.Printf("monitor closed: %v", c.Err())
}

// A process that watches many monitors receives each one's events with
// NextEvent, which costs no goroutine or channel buffer beyond the
// connection's own reader.
func ExampleConn_NextEvent() {
	ctx := context.Background()
	c, err := qmp.Dial(ctx, "/run/vm1/qmp.sock", qmp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			log.Printf("monitor closed: %v", err) // what c.Err() says
			return
		}
		log.Printf("%s at %s", ev.Name, ev.Timestamp)
	}
}
