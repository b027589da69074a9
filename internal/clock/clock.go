// Package clock gives every aggregator instance one time: the Redis
// server's, read once a second and followed with the local monotonic clock
// in between, so that an instance whose own clock is off neither moves a
// tenant's windows ahead nor takes fresh events for future ones. How far
// the local clock is off is logged and exported; what the time decides is
// left to callers.
package clock

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
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
	rdb    redis.UniversalClient
	local  func() time.Time
	log    *zap.Logger
	offset atomic.Int64 // Redis time − local time, ns
	skew   prometheus.Gauge
	warned bool
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

// Now returns the Redis server's time as last read, moved on by the local
// clock since.
func (c *Redis) Now() time.Time {
	return c.local().Add(time.Duration(c.offset.Load()))
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
	before := c.local()
	t, err := node.Time(ctx).Result()
	if err != nil {
		return err
	}
	after := c.local()
	// The server read its clock about halfway through the round trip.
	local := before.Add(after.Sub(before) / 2)
	off := t.Sub(local)
	c.offset.Store(int64(off))
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
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("reading the Redis time", zap.Error(err))
		}
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
