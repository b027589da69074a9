package ingest

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per tenant, counted in events.
type limiter struct {
	mu       sync.Mutex
	rate     rate.Limit
	burst    int
	byTenant map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond == 0 {
		return nil
	}
	return &limiter{rate: rate.Limit(perSecond), burst: burst, byTenant: map[string]*rate.Limiter{}}
}

// take removes counts[tenant] tokens for every tenant at now, all or none.
// When a bucket is short it takes nothing and returns how long to wait.
func (l *limiter) take(now time.Time, counts map[string]int) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var taken []*rate.Reservation
	for tenant, n := range counts {
		lim := l.byTenant[tenant]
		if lim == nil {
			lim = rate.NewLimiter(l.rate, l.burst)
			l.byTenant[tenant] = lim
		}
		r := lim.ReserveN(now, n)
		d := r.DelayFrom(now)
		if !r.OK() || d > 0 {
			r.CancelAt(now)
			for _, t := range taken {
				t.CancelAt(now)
			}
			return max(d, time.Second), false
		}
		taken = append(taken, r)
	}
	return 0, true
}
