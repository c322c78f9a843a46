package publishtest

import (
	"context"
	"sync"
	"testing"

	"github.com/vmevents/vmevents/qmpagent/source"
)

// Run starts s until the test ends, as the agent runs its sources, and
// returns the function that stops it and waits for Start to return: a
// test may call it earlier, any number of times.
func Run(t testing.TB, s source.Source) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Start(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
