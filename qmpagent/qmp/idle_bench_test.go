package qmp_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// idleConns is how many monitors BenchmarkIdleConns holds open: the node
// size the agent's scale goal is stated for.
const idleConns = 1000

// BenchmarkIdleConns reports what an open, idle connection costs: heap
// bytes, goroutine stack bytes and goroutines per connection, with one
// consumer per connection waiting for events as the agent's sessions do.
// It measures, it does not judge:
//
//	go test ./qmpagent/qmp -run '^$' -bench IdleConns -benchtime 1x
//
// The server's side of every connection stays open (without a goroutine)
// until the end, and the client's cost is what closing the clients frees.
func BenchmarkIdleConns(b *testing.B) {
	b.Run("Events", func(b *testing.B) {
		benchIdleConns(b, func(c *qmp.Conn) {
			for range c.Events() {
			}
		})
	})
	b.Run("NextEvent", func(b *testing.B) {
		benchIdleConns(b, func(c *qmp.Conn) {
			for {
				if _, err := c.NextEvent(context.Background()); err != nil {
					return
				}
			}
		})
	})
}

func benchIdleConns(b *testing.B, consume func(*qmp.Conn)) {
	s := qmptest.NewServer(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < b.N; i++ {
		var served sync.WaitGroup
		served.Add(1)
		go func() {
			defer served.Done()
			for range idleConns {
				p, err := s.Accept(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				// The peer stays open, tracked by the server, with no
				// goroutine of its own.
				if err := p.Handshake(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		conns := make([]*qmp.Conn, 0, idleConns)
		var consumers sync.WaitGroup
		for range idleConns {
			c, err := qmp.Dial(ctx, s.Path, qmp.Options{})
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			consumers.Add(1)
			go func() {
				defer consumers.Done()
				consume(c)
			}()
		}
		served.Wait()
		open := memNow()
		for _, c := range conns {
			_ = c.Close()
		}
		consumers.Wait()
		conns = nil
		closed := memNow()
		b.ReportMetric(float64(open.heap-closed.heap)/idleConns, "heap-B/conn")
		b.ReportMetric(float64(open.stack-closed.stack)/idleConns, "stack-B/conn")
		b.ReportMetric(float64(open.goroutines-closed.goroutines)/idleConns, "goroutines/conn")
	}
}

type memSample struct {
	heap, stack uint64
	goroutines  int
}

// memNow measures after two collections, so that what is measured is what
// is live, not what the collector has yet to free. Stacks shrink during a
// collection, so the second one sees them at their idle size.
func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}
