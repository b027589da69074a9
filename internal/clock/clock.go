// Package clock gives every aggregator instance one time: the Redis
// server's, read once a second and followed with the monotonic clock in
// between, so that an instance whose own clock is off, or is stepped,
// neither moves a tenant's windows ahead nor takes fresh events for future
// ones. How far the machine's clock is off is logged and exported; what
// the time decides is left to callers.
package clock

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/pace"
)

const (
	// every is how often the Redis time is read.
	every = time.Second
	// warnSkew is how far off the local clock may be before it is logged.
	warnSkew = 10 * time.Second
	// key names the Cluster node whose time is read (any node would do;
	// one fixed node keeps every instance on the same one).
	key = "cxpulse:clock"
)

// Redis is a clock that follows the Redis server's time.
type Redis struct {
	rdb   redis.UniversalClient
	local func() time.Time
	log   *zap.Logger
	// last is the Redis time at the last reading and the monotonic
	// instant it was read at.
	last   atomic.Pointer[reading]
	skew   prometheus.Gauge
	warned bool
}

type reading struct {
	redis time.Time // the server's time, without a monotonic reading
	at    time.Time // time.Now() then: its monotonic reading counts
}

// NewRedis returns a clock following rdb's time, with local as the clock
// of this machine (time.Now unless a test moves it). Its metric goes to
// reg.
func NewRedis(rdb redis.UniversalClient, local func() time.Time, log *zap.Logger, reg prometheus.Registerer) *Redis {
	c := &Redis{rdb: rdb, local: local, log: log.With(zap.String("component", "clock")),
		skew: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxpulse_clock_skew_seconds", Help: "How far this instance's own clock is ahead of the Redis server's (the aggregator uses the Redis time).",
		})}
	reg.MustRegister(c.skew)
	return c
}

// Now returns the Redis server's time as last read, moved on by the
// monotonic clock since (the machine's own clock until Redis answered
// once).
func (c *Redis) Now() time.Time {
	r := c.last.Load()
	if r == nil {
		return c.local()
	}
	return r.redis.Add(time.Since(r.at))
}

// Sync reads the Redis time once.
func (c *Redis) Sync(ctx context.Context) error {
	node := redis.Cmdable(c.rdb)
	if cl, ok := c.rdb.(*redis.ClusterClient); ok {
		n, err := cl.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		node = n
	}
	before := time.Now()
	t, err := node.Time(ctx).Result()
	if err != nil {
		return err
	}
	// The server read its clock about halfway through the round trip.
	at := before.Add(time.Since(before) / 2)
	c.last.Store(&reading{redis: t.Round(0), at: at})
	off := t.Sub(c.local().Round(0)) // how far this machine's clock is off
	c.skew.Set(-off.Seconds())
	if abs(off) > warnSkew && !c.warned {
		c.log.Warn("this machine's clock is off from the Redis server's; following the Redis time", zap.Duration("redis_minus_local", off))
		c.warned = true
	} else if abs(off) <= warnSkew {
		c.warned = false
	}
	return nil
}

// Run reads the Redis time every second until ctx ends.
func (c *Redis) Run(ctx context.Context) {
	pace.Every(ctx, every, func() bool {
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("reading the Redis time", zap.Error(err))
		}
		return true
	})
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
