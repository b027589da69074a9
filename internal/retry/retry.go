// Package retry paces the retries of an operation that failed for a
// reason that may pass (a broker or Redis away for a moment). Deciding
// what may pass is left to callers.
package retry

import (
	"context"
	"time"
)

// Wait waits before retry n (from 0): 50 ms doubled each time, at most
// 5 s. It returns false, at once, when ctx ends.
func Wait(ctx context.Context, n int) bool {
	d := time.Duration(1<<min(n, 6)) * 50 * time.Millisecond
	t := time.NewTimer(min(d, 5*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
