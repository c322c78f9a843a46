package pace

import (
	"testing"
	"time"
)

// The places follow the answer times: a slow answer cuts them by a quarter
// (once per answer time, never below the minimum), quick answers add them
// back one per round, up to the limit.
func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	slow, quick := 2*Target, Target/10
	for _, tc := range []struct {
		name       string
		limit, min int
		start      float64
		answers    []time.Duration // one each 10 ms from t0
		want       int
	}{
		{name: "quick answers keep the limit", limit: 32, min: 2, start: 32, answers: []time.Duration{quick, quick}, want: 32},
		{name: "a slow answer cuts a quarter", limit: 32, min: 2, start: 32, answers: []time.Duration{slow}, want: 24},
		{name: "slow answers within one answer time cut once", limit: 32, min: 2, start: 32, answers: []time.Duration{slow, slow, slow}, want: 24},
		{name: "never below the minimum", limit: 32, min: 2, start: 2, answers: []time.Duration{slow}, want: 2},
		{name: "a round of quick answers adds one", limit: 32, min: 2, start: 4, answers: []time.Duration{quick, quick, quick, quick, quick}, want: 5},
		{name: "never above the limit", limit: 4, min: 1, start: 4, answers: []time.Duration{quick, quick, quick, quick, quick}, want: 4},
		{name: "a minimum over the limit is the limit", limit: 2, min: 3, start: 1, answers: []time.Duration{slow}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWindow(tc.limit, tc.min)
			w.window = tc.start
			for i, took := range tc.answers {
				w.Observe(took, t0.Add(time.Duration(i)*10*time.Millisecond))
			}
			if got := w.Places(); got != tc.want {
				t.Fatalf("%d places, want %d", got, tc.want)
			}
		})
	}
}
