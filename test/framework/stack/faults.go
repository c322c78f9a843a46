package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// PanicAgain resets the panicked guest behind mon (a VM's second monitor)
// and lets it run into its panic again, returning once QEMU has emitted
// GUEST_PANICKED, so the caller knows the fault happened whatever Kubernetes
// is doing meanwhile.
func PanicAgain(ctx context.Context, mon *qmp.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, c := range []string{"system_reset", "cont"} {
		if err := mon.Execute(ctx, c, nil, nil); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	for {
		select {
		case ev, ok := <-mon.Events():
			if !ok {
				return fmt.Errorf("the monitor closed before GUEST_PANICKED")
			}
			if ev.Name == "GUEST_PANICKED" {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("no GUEST_PANICKED: %w", ctx.Err())
		}
	}
}

// OccurrencesJSONPath lists events.k8s.io Events as "name=series.count;"
// pairs, for Occurrences.
const OccurrencesJSONPath = `jsonpath={range .items[*]}{.metadata.name}={.series.count};{end}`

// Occurrences adds up the "name=count;" pairs OccurrencesJSONPath prints,
// an empty count being one occurrence (an Event without a series): how many
// times the Events say something happened.
func Occurrences(out string) int {
	total := 0
	for _, item := range strings.Split(out, ";") {
		name, count, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			continue
		}
		n := 1
		if count != "" {
			fmt.Sscan(count, &n)
		}
		total += n
	}
	return total
}
