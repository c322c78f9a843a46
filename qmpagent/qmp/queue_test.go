package qmp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// queueTimeout bounds every wait in these tests, as a safety net against
// hangs; no test asserts how long anything took.
const queueTimeout = 30 * time.Second

func evs(names ...string) []Event {
	out := make([]Event, len(names))
	for i, n := range names {
		out[i] = Event{Name: n, Timestamp: Timestamp{Seconds: int64(i)}}
	}
	return out
}

// consumer takes the next item from a queue. It returns errDrained once
// the queue has delivered everything and will deliver nothing more, and
// another error if no item comes in time. Goroutines other than the
// test's may call it.
type consumer func() (Event, error)

// consumers are the two ways a Conn's events are taken from its queue:
// the Events channel fed by the dispatcher, and NextEvent's next. Each
// starts consuming q and returns the consumer and a function that stops
// the queue (as Close does) and waits for the dispatcher, if any.
var consumers = []struct {
	name  string
	start func(q *eventQueue) (consumer, func())
}{
	{"channel", func(q *eventQueue) (consumer, func()) {
		out := q.openChannel(false)
		stop, done := make(chan struct{}), make(chan struct{})
		go func() { q.run(stop); close(done) }()
		recv := func() (Event, error) {
			select {
			case ev, ok := <-out:
				if !ok {
					return Event{}, errDrained
				}
				return ev, nil
			case <-time.After(queueTimeout):
				return Event{}, errors.New("no item from the channel")
			}
		}
		return recv, func() { close(stop); <-done }
	}},
	{"next", func(q *eventQueue) (consumer, func()) {
		stop := make(chan struct{})
		recv := func() (Event, error) {
			ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
			defer cancel()
			return q.next(ctx, stop)
		}
		return recv, func() { close(stop) }
	}},
}

// take takes n items, or with n < 0 every item until the queue ends.
func take(recv consumer, n int) ([]Event, error) {
	var got []Event
	for n < 0 || len(got) < n {
		ev, err := recv()
		if n < 0 && errors.Is(err, errDrained) {
			break
		}
		if err != nil {
			return got, fmt.Errorf("after %d items: %w", len(got), err)
		}
		got = append(got, ev)
	}
	return got, nil
}

// receive takes n items or fails the test.
func receive(t *testing.T, recv consumer, n int) []Event {
	t.Helper()
	got, err := take(recv, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// receiveAll takes items until the queue ends or fails the test.
func receiveAll(t *testing.T, recv consumer) []Event {
	t.Helper()
	return receive(t, recv, -1)
}

// taken is the outcome of take in another goroutine.
type taken struct {
	evs []Event
	err error
}

// takeAsync runs take in a goroutine.
func takeAsync(recv consumer, n int) <-chan taken {
	c := make(chan taken, 1)
	go func() {
		evs, err := take(recv, n)
		c <- taken{evs, err}
	}()
	return c
}

// result waits for takeAsync's outcome or fails the test.
func (c taken) result(t *testing.T) []Event {
	t.Helper()
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.evs
}

func render(evs []Event) string {
	var s []string
	for _, ev := range evs {
		if ev.Gap != nil {
			var parts []string
			for _, name := range ev.Gap.Names() {
				parts = append(parts, fmt.Sprintf("%s:%d", name, ev.Gap.Lost[name]))
			}
			s = append(s, "gap("+strings.Join(parts, ",")+")")
			continue
		}
		s = append(s, ev.Name)
	}
	return strings.Join(s, " ")
}

// checkAccounting verifies the queue's contract on what was received for
// what was pushed: events arrive in push order; each gap stands for the
// contiguous run of events shed at its place, with exact per-name counts
// and the last event of each name; nothing is missing or extra.
func checkAccounting(t *testing.T, pushed, got []Event) {
	t.Helper()
	i := 0
	for k, ev := range got {
		if ev.Gap == nil {
			if i >= len(pushed) || pushed[i].Name != ev.Name || pushed[i].Timestamp != ev.Timestamp {
				t.Fatalf("item %d = %+v, want pushed event %d %+v", k, ev, i, pushed[min(i, len(pushed)-1)])
			}
			i++
			continue
		}
		n := int(ev.Gap.Total())
		if n == 0 || i+n > len(pushed) {
			t.Fatalf("item %d: gap of %d events at pushed event %d of %d", k, n, i, len(pushed))
		}
		lost := map[string]uint64{}
		last := map[string]Event{}
		for _, p := range pushed[i : i+n] {
			lost[p.Name]++
			last[p.Name] = p
		}
		if fmt.Sprint(lost) != fmt.Sprint(ev.Gap.Lost) {
			t.Fatalf("item %d: gap counts %v, want %v", k, ev.Gap.Lost, lost)
		}
		for name, p := range last {
			if ev.Gap.Last[name].Timestamp != p.Timestamp {
				t.Fatalf("item %d: gap's last %s = %+v, want %+v", k, name, ev.Gap.Last[name], p)
			}
		}
		if ev.Timestamp != pushed[i+n-1].Timestamp {
			t.Fatalf("item %d: gap timestamp %+v, want the last shed event's %+v", k, ev.Timestamp, pushed[i+n-1].Timestamp)
		}
		i += n
	}
	if i != len(pushed) {
		t.Fatalf("received %d of %d pushed events", i, len(pushed))
	}
}

// TestQueueOverflow pushes with no consumer, then consumes, then pushes
// again. While nobody consumes, exactly capacity items are queued and the
// rest are accounted in one gap, delivered in their place; later events
// follow the gap.
//
// When a push races with the consumer taking the very item that frees the
// last slot, that item may still count for an instant, so the push can be
// shed rather than queued. The accounting stays exact either way; cases
// whose second push lands on that boundary list both outcomes.
func TestQueueOverflow(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		first    []string
		consume  int // items received before the second push
		second   []string
		want     []string // acceptable renderings of everything received
	}{
		{
			name: "fits", capacity: 4,
			first: []string{"A", "B", "C", "D"}, consume: 4,
			want: []string{"A B C D"},
		},
		{
			name: "one gap, counted per name", capacity: 4,
			first:   []string{"A", "B", "C", "D", "A", "B", "A", "C"},
			consume: 5, second: []string{"E"},
			want: []string{"A B C D gap(A:2,B:1,C:1) E"},
		},
		{
			name: "events after the gap opened", capacity: 2,
			first:   []string{"A", "B", "C"},
			consume: 1, second: []string{"D", "E"},
			want: []string{"A B gap(C:1) gap(D:1,E:1)", "A B gap(C:1,D:1,E:1)"},
		},
		{
			name: "a second gap after the first was delivered", capacity: 2,
			first:   []string{"A", "B", "C"},
			consume: 3, second: []string{"D", "E", "F", "G"},
			want: []string{"A B gap(C:1) D E gap(F:1,G:1)"},
		},
		{
			name: "capacity one", capacity: 1,
			first:   []string{"A", "B", "C"},
			consume: 2, second: []string{"D"},
			want: []string{"A gap(B:1,C:1) D", "A gap(B:1,C:1) gap(D:1)"},
		},
	}
	for _, c := range consumers {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				testQueueOverflow(t, c.start, tt.capacity, tt.first, tt.consume, tt.second, tt.want)
			})
		}
	}
}

func testQueueOverflow(t *testing.T, start func(*eventQueue) (consumer, func()), capacity int, first []string, consume int, second, want []string) {
	q := newEventQueue(capacity)
	recv, stop := start(q)
	defer stop()

	pushed := evs(append(append([]string{}, first...), second...)...)
	q.push(pushed[:len(first)])
	if _, gaps, queued := q.stats(); queued != min(capacity, len(first)) || (gaps == 1) != (len(first) > capacity) {
		t.Errorf("after the first push: %d queued, %d gaps", queued, gaps)
	}
	got := receive(t, recv, consume)
	q.push(pushed[len(first):])
	q.close()
	got = append(got, receiveAll(t, recv)...)
	checkAccounting(t, pushed, got)
	ok := false
	for _, w := range want {
		ok = ok || render(got) == w
	}
	if !ok {
		t.Errorf("received %q, want one of %q", render(got), want)
	}
	dropped, gaps, queued := q.stats()
	var wantDropped, wantGaps uint64
	for _, ev := range got {
		if ev.Gap != nil {
			wantDropped += ev.Gap.Total()
			wantGaps++
		}
	}
	if dropped != wantDropped || gaps != wantGaps || queued != 0 {
		t.Errorf("stats: dropped %d, gaps %d, queued %d; want %d, %d, 0", dropped, gaps, queued, wantDropped, wantGaps)
	}
}

// TestQueueAccountingUnderLoad pushes many batches while a consumer
// receives at its own pace and checks that everything is accounted
// exactly, in order.
func TestQueueAccountingUnderLoad(t *testing.T) {
	for _, c := range consumers {
		for _, capacity := range []int{1, 2, 7, 64, 1024} {
			t.Run(fmt.Sprint(c.name, "/capacity ", capacity), func(t *testing.T) {
				q := newEventQueue(capacity)
				recv, stop := c.start(q)
				defer stop()
				var pushed []Event
				names := []string{"A", "B", "C", "D", "E"}
				for i := 0; i < 20000; i++ {
					pushed = append(pushed, Event{Name: names[i*7%5], Timestamp: Timestamp{Seconds: int64(i)}})
				}
				gotc := takeAsync(recv, -1)
				for i := 0; i < len(pushed); i += 13 {
					q.push(pushed[i:min(i+13, len(pushed))])
				}
				q.close()
				checkAccounting(t, pushed, (<-gotc).result(t))
			})
		}
	}
}

// TestQueueGapKeepsLastEvent checks the per-name last event and the gap's
// timestamp.
func TestQueueGapKeepsLastEvent(t *testing.T) {
	q := newEventQueue(1)
	recv, stop := consumers[0].start(q)
	defer stop()
	q.push([]Event{
		{Name: "X", Timestamp: Timestamp{1, 0}},
		{Name: "RTC_CHANGE", Data: []byte(`{"offset":1}`), Timestamp: Timestamp{2, 0}},
		{Name: "RTC_CHANGE", Data: []byte(`{"offset":2}`), Timestamp: Timestamp{3, 0}},
		{Name: "STOP", Timestamp: Timestamp{4, 0}},
	})
	got := receive(t, recv, 2)
	gap := got[1].Gap
	if gap == nil {
		t.Fatalf("second item is not a gap: %+v", got[1])
	}
	if string(gap.Last["RTC_CHANGE"].Data) != `{"offset":2}` || gap.Lost["RTC_CHANGE"] != 2 {
		t.Errorf("gap = %+v", gap)
	}
	if got[1].Timestamp != (Timestamp{4, 0}) || got[1].Name != "" || got[1].Data != nil {
		t.Errorf("gap event = %+v, want the last shed event's timestamp and nothing else", got[1])
	}
}

// TestQueueStop checks that stopping closes the channel even with items
// queued, and that pushes after that are ignored.
func TestQueueStop(t *testing.T) {
	q := newEventQueue(8)
	out := q.openChannel(false)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { q.run(stop); close(done) }()
	q.push(evs("A", "B", "C"))
	close(stop)
	<-done
	q.push(evs("D")) // must not panic on the closed channel
	n := 0
	for range out {
		n++
	}
	if n > 3 {
		t.Errorf("received %d items after stop", n)
	}
}

// TestQueueManyNextCallers checks that with several callers waiting in
// next at once every item is delivered exactly once, and that the end of
// the stream reaches every caller.
func TestQueueManyNextCallers(t *testing.T) {
	const callers, items = 4, 5000
	q := newEventQueue(items)
	recv, stop := consumers[1].start(q)
	defer stop()
	var results []<-chan taken
	for range callers {
		results = append(results, takeAsync(recv, -1))
	}
	pushed := make([]Event, items)
	for i := range pushed {
		pushed[i] = Event{Name: "E", Timestamp: Timestamp{Seconds: int64(i)}}
	}
	for i := 0; i < items; i += 7 {
		q.push(pushed[i:min(i+7, items)])
	}
	q.close()
	seen := make([]int, items)
	for _, r := range results {
		for _, ev := range (<-r).result(t) {
			if ev.Gap != nil {
				t.Fatalf("gap with room for every item: %+v", ev.Gap.Lost)
			}
			seen[ev.Timestamp.Seconds]++
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("item %d delivered %d times", i, n)
		}
	}
}

// TestQueueChannelOpenedWhileNextWaits checks that a caller waiting in
// next when the channel is opened receives through the channel.
func TestQueueChannelOpenedWhileNextWaits(t *testing.T) {
	q := newEventQueue(8)
	recv, stopNext := consumers[1].start(q)
	defer stopNext()
	q.push(evs("A"))
	if got := receive(t, recv, 1); render(got) != "A" {
		t.Fatalf("received %q", render(got))
	}
	gotc := takeAsync(recv, 2)
	waitFor(t, "next to wait", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.pullers == 1
	})
	q.openChannel(false)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { q.run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	q.push(evs("B", "C"))
	if got := (<-gotc).result(t); render(got) != "B C" {
		t.Errorf("received %q, want B C", render(got))
	}
}

// TestQueueLetsGoOfBurstRing checks that the ring grown for a burst is
// let go once the consumer has caught up and waits again, for both ways
// of consuming.
func TestQueueLetsGoOfBurstRing(t *testing.T) {
	for _, c := range consumers {
		t.Run(c.name, func(t *testing.T) {
			q := newEventQueue(1024)
			recv, stop := c.start(q)
			defer stop()
			burst := evs(strings.Split(strings.Repeat("E ", 600), " ")[:600]...)
			q.push(burst)
			receive(t, recv, len(burst))
			gotc := takeAsync(recv, 1)
			waitFor(t, "the consumer to wait with a small ring", func() bool {
				q.mu.Lock()
				defer q.mu.Unlock()
				return (q.pullers == 1 || q.waiting) && len(q.ring) <= minRing
			})
			q.push(evs("F"))
			if got := (<-gotc).result(t); render(got) != "F" {
				t.Errorf("after the burst received %q, want F", render(got))
			}
		})
	}
}

// waitFor polls cond until it holds; the deadline is a safety net.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(queueTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
