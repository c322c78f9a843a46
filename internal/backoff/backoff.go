// Package backoff holds the waiting every reconnecting part of vmevents
// shares: capped exponential backoff with jitter, and a sleep that ends with
// its context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before attempt n+1 (n from 0): min doubled n times,
// capped at max, with ±50% jitter so that many clients losing their peer at
// once do not retry in step.
func Delay(attempt int, min, max time.Duration) time.Duration {
	d := min << minInt(attempt, 20)
	if d > max || d <= 0 {
		d = max
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// Sleep waits d and reports true, or reports false as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
