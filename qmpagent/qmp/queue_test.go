package qmp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func evs(names ...string) []Event {
	out := make([]Event, len(names))
	for i, n := range names {
		out[i] = Event{Name: n, Timestamp: Timestamp{Seconds: int64(i)}}
	}
	return out
}

// receive takes n items from the queue's channel.
func receive(t *testing.T, q *eventQueue, n int) []Event {
	t.Helper()
	var got []Event
	for i := 0; i < n; i++ {
		select {
		case ev, ok := <-q.out:
			if !ok {
				t.Fatalf("channel closed after %d of %d items", i, n)
			}
			got = append(got, ev)
		case <-time.After(30 * time.Second):
			t.Fatalf("no item %d of %d", i, n)
		}
	}
	return got
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newEventQueue(tt.capacity)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { q.run(stop); close(done) }()
			defer func() { close(stop); <-done }()

			pushed := evs(append(append([]string{}, tt.first...), tt.second...)...)
			q.push(pushed[:len(tt.first)])
			if _, gaps, queued := q.stats(); queued != min(tt.capacity, len(tt.first)) || (gaps == 1) != (len(tt.first) > tt.capacity) {
				t.Errorf("after the first push: %d queued, %d gaps", queued, gaps)
			}
			got := receive(t, q, tt.consume)
			q.push(pushed[len(tt.first):])
			q.close()
			for ev := range q.out {
				got = append(got, ev)
			}
			checkAccounting(t, pushed, got)
			ok := false
			for _, w := range tt.want {
				ok = ok || render(got) == w
			}
			if !ok {
				t.Errorf("received %q, want one of %q", render(got), tt.want)
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
		})
	}
}

// TestQueueAccountingUnderLoad pushes many batches while a consumer
// receives at its own pace and checks that everything is accounted
// exactly, in order.
func TestQueueAccountingUnderLoad(t *testing.T) {
	for _, capacity := range []int{1, 2, 7, 64} {
		t.Run(fmt.Sprint("capacity ", capacity), func(t *testing.T) {
			q := newEventQueue(capacity)
			stop := make(chan struct{})
			go q.run(stop)
			defer close(stop)
			var pushed []Event
			names := []string{"A", "B", "C", "D", "E"}
			for i := 0; i < 20000; i++ {
				pushed = append(pushed, Event{Name: names[i*7%5], Timestamp: Timestamp{Seconds: int64(i)}})
			}
			gotc := make(chan []Event)
			go func() {
				var got []Event
				for ev := range q.out {
					got = append(got, ev)
				}
				gotc <- got
			}()
			for i := 0; i < len(pushed); i += 13 {
				q.push(pushed[i:min(i+13, len(pushed))])
			}
			q.close()
			checkAccounting(t, pushed, <-gotc)
		})
	}
}

// TestQueueGapKeepsLastEvent checks the per-name last event and the gap's
// timestamp.
func TestQueueGapKeepsLastEvent(t *testing.T) {
	q := newEventQueue(1)
	stop := make(chan struct{})
	go q.run(stop)
	defer close(stop)
	q.push([]Event{
		{Name: "X", Timestamp: Timestamp{1, 0}},
		{Name: "RTC_CHANGE", Data: []byte(`{"offset":1}`), Timestamp: Timestamp{2, 0}},
		{Name: "RTC_CHANGE", Data: []byte(`{"offset":2}`), Timestamp: Timestamp{3, 0}},
		{Name: "STOP", Timestamp: Timestamp{4, 0}},
	})
	got := receive(t, q, 2)
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
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { q.run(stop); close(done) }()
	q.push(evs("A", "B", "C"))
	close(stop)
	<-done
	q.push(evs("D")) // must not panic on the closed channel
	n := 0
	for range q.out {
		n++
	}
	if n > 3 {
		t.Errorf("received %d items after stop", n)
	}
}
