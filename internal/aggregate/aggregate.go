// Package aggregate is the cxpulse aggregator: it consumes the input
// topics as a Kafka consumer group and keeps the rolling-window metrics of
// every tenant and scope in Redis. This version loads and checks its
// configuration, connects to Redis and serves the probes and /metrics; the
// consuming side is not built yet.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/serve"
)

// Handler returns the aggregator's HTTP routes over the Redis client rdb.
func Handler(rdb redis.UniversalClient) http.Handler {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := chi.NewRouter()
	r.Get("/healthz", serve.Healthz)
	r.Get("/readyz", serve.Readyz(func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis unreachable: %w", err)
		}
		return nil
	}))
	r.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	return r
}

// Run serves the aggregator's HTTP endpoints on cfg.HTTPAddr until ctx
// ends, then drains requests and closes Redis.
func Run(ctx context.Context, cfg Config, logger *zap.Logger) error {
	log := logger.With(zap.String("component", "aggregator"))
	opts, err := cfg.redisOptions()
	if err != nil {
		return fmt.Errorf("CXPULSE_REDIS_URL: %w", err)
	}
	rdb := redis.NewUniversalClient(opts)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = rdb.Close()
		return fmt.Errorf("listening on %s (CXPULSE_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	log.Info("aggregator started", zap.Strings("windows", windowNames(cfg)), zap.Strings("dimensions", cfg.Dimensions))
	return errors.Join(serve.Run(ctx, ln, Handler(rdb), cfg.ShutdownTimeout, log), rdb.Close())
}

func windowNames(cfg Config) []string {
	out := make([]string, len(cfg.Windows))
	for i, w := range cfg.Windows {
		out[i] = w.Name
	}
	return out
}
