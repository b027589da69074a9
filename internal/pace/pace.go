// Package pace paces work that repeats: retries of an operation that
// failed for a reason that may pass (a broker or Redis away for a moment),
// and rounds that run at a fixed interval. What the work is, and which
// failures may pass, is left to callers.
package pace

import (
	"context"
	"time"
)

// Wait waits before retry n (from 0): 50 ms doubled each time, at most
// 3.2 s. It returns false, at once, when ctx ends.
func Wait(ctx context.Context, n int) bool {
	return Sleep(ctx, time.Duration(1<<min(n, 6))*50*time.Millisecond)
}

// Sleep waits d. It returns false, at once, when ctx ends.
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

// Every calls round every d until ctx ends or round returns false.
func Every(ctx context.Context, d time.Duration, round func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !round() {
			return
		}
	}
}
