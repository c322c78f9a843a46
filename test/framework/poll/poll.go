// Package poll waits in plain Go tests (the Ginkgo suites have Eventually):
// a condition is polled until it holds, with a deadline that only bounds a
// hung test and is never what a test asserts.
package poll

import (
	"testing"
	"time"
)

// Deadline is how long Until waits before it fails the test.
const Deadline = time.Minute

// Until polls cond every few milliseconds until it holds, and fails the
// test, saying it was waiting for what, if it does not within Deadline.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
