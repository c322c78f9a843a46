package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayIsCappedExponentialWithJitter(t *testing.T) {
	min, max := 100*time.Millisecond, 3*time.Second
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{5, 3 * time.Second}, // capped
		{1000, 3 * time.Second},
	} {
		for range 100 {
			d := Delay(tc.attempt, min, max)
			if d < tc.base/2 || d > tc.base*3/2 {
				t.Fatalf("Delay(%d) = %v, want within ±50%% of %v", tc.attempt, d, tc.base)
			}
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep returned true for an ended context")
	}
	if !Sleep(context.Background(), 0) {
		t.Error("Sleep(0) returned false")
	}
}
