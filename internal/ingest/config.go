package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Fixed limits of one request (docs/events.md).
const (
	MaxBodyBytes = 1 << 20
	MaxEvents    = 1000
)

// Config is the ingest service's configuration.
type Config struct {
	config.Common
	// Kafka is how the service connects to Kafka.
	Kafka kafkaconn.Config
	// HTTPAddr is where the API listens. Default ":8080".
	HTTPAddr string
	// RateLimit is the sustained events per second allowed per tenant;
	// 0 turns the limit off. Default 5000.
	RateLimit float64
	// RateBurst is how many events a tenant may send at once above the
	// sustained rate; at least MaxEvents. Default 20000.
	RateBurst int
	// WriteTimeout bounds one request's Kafka write. Default 10s.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds draining in-flight requests on SIGTERM.
	// Default 15s.
	ShutdownTimeout time.Duration
	// WindowsSpec are the aggregator's rolling windows: an event in none of
	// them and in no kept calendar period is refused. Default as the
	// aggregator's.
	WindowsSpec string
	Windows     []window.Window
}

// Register adds the ingest settings to s.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Common.Register(s)
	s.String(&c.HTTPAddr, "CXPULSE_HTTP_ADDR", ":8080", "address the ingest API listens on")
	s.Float(&c.RateLimit, "CXPULSE_INGEST_RATE_LIMIT", 5000, "events per second allowed per tenant (0: no limit)")
	s.Int(&c.RateBurst, "CXPULSE_INGEST_RATE_BURST", 20000, "events a tenant may send at once above the rate (at least 1000)")
	s.Duration(&c.WriteTimeout, "CXPULSE_KAFKA_WRITE_TIMEOUT", "10s", "longest wait for Kafka to acknowledge one request's events")
	s.Duration(&c.ShutdownTimeout, "CXPULSE_SHUTDOWN_TIMEOUT", "15s", "longest wait for in-flight requests on shutdown")
	s.String(&c.WindowsSpec, "CXPULSE_WINDOWS", window.DefaultSpec, "the aggregator's rolling windows: events in none of them nor in a kept calendar period are refused")
}

// Validate checks every setting and names the bad ones.
func (c *Config) Validate() error {
	errs := []error{c.Kafka.Validate(), c.Common.Validate()}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("CXPULSE_HTTP_ADDR: required"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("CXPULSE_INGEST_RATE_LIMIT: %v must be 0 or more", c.RateLimit))
	}
	if c.RateBurst < MaxEvents {
		errs = append(errs, fmt.Errorf("CXPULSE_INGEST_RATE_BURST: %d must be at least %d (the largest request)", c.RateBurst, MaxEvents))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, errors.New("CXPULSE_KAFKA_WRITE_TIMEOUT: must be positive"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("CXPULSE_SHUTDOWN_TIMEOUT: must be positive"))
	}
	spec := c.WindowsSpec
	if spec == "" {
		spec = window.DefaultSpec
	}
	ws, err := window.Parse(spec)
	if err != nil {
		errs = append(errs, fmt.Errorf("CXPULSE_WINDOWS: %w", err))
	}
	c.Windows = ws
	return errors.Join(errs...)
}
