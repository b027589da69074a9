package demo

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cxpulse/cxpulse/internal/config"
)

// Config is the demo's configuration.
type Config struct {
	// KafkaAddr is where the embedded broker listens. Default ":9092".
	KafkaAddr string
	// IngestAddr is where the ingest API listens. Default ":8080".
	IngestAddr string
	// AggregatorAddr is where the aggregator listens. Default ":9090".
	AggregatorAddr string
	// Rate is the live traffic in events per second. Default 40.
	Rate int
	// Duration stops the demo after this long; 0 runs until Ctrl-C.
	// Default 0.
	Duration time.Duration
	// Seed makes the traffic repeatable. Default 1.
	Seed int
	// Log is the log format. Default console.
	Log string
	// Level is the least severe level logged. Default warn, so that the
	// live summary stays readable.
	Level string
	// EmbeddedRedis uses the embedded in-process Redis even when
	// redis-server is installed. Default 0.
	EmbeddedRedis bool
	// RedisAddr is where the demo's own Redis listens (host:port on
	// loopback), so that tools can be pointed at it; "" picks a free port.
	// Default "".
	RedisAddr string
	// TenantsFile is the tenants file of ingest and the aggregator (as
	// CXPULSE_TENANTS_FILE is for them). Default none.
	TenantsFile string
	// Traffic runs the synthetic tenant's history and live traffic; off,
	// the demo is a sandbox for one's own events. Default on.
	Traffic bool
}

// Register adds the demo settings to s.
func (c *Config) Register(s *config.Set) {
	s.String(&c.KafkaAddr, "CXPULSE_KAFKA_ADDR", ":9092", "address of the embedded Kafka-protocol broker")
	s.String(&c.IngestAddr, "CXPULSE_INGEST_ADDR", ":8080", "address of the ingest API")
	s.String(&c.AggregatorAddr, "CXPULSE_AGGREGATOR_ADDR", ":9090", "address of the aggregator (dashboard, read API)")
	s.Int(&c.Rate, "CXPULSE_DEMO_RATE", 40, "live events per second")
	s.Duration(&c.Duration, "CXPULSE_DEMO_DURATION", "0s", "stop after this long (0: run until Ctrl-C)")
	s.Int(&c.Seed, "CXPULSE_DEMO_SEED", 1, "seed of the generated traffic")
	s.Bool(&c.EmbeddedRedis, "CXPULSE_DEMO_EMBEDDED_REDIS", false, "use the embedded in-process Redis even when redis-server is installed")
	s.String(&c.RedisAddr, "CXPULSE_DEMO_REDIS_ADDR", "", "host:port on loopback for the demo's own Redis (empty: a free port)")
	s.String(&c.TenantsFile, "CXPULSE_TENANTS_FILE", "", "tenants file of ingest and the aggregator (docs/configuration.md)")
	s.Bool(&c.Traffic, "CXPULSE_DEMO_TRAFFIC", true, "synthetic tenant demo's history and live traffic (off: a sandbox for your own events)")
	s.String(&c.Log, "CXPULSE_LOG_FORMAT", "console", "log format: json or console")
	s.String(&c.Level, "CXPULSE_LOG_LEVEL", "warn", "least severe level logged: debug, info, warn or error")
}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ env, addr string }{
		{"CXPULSE_KAFKA_ADDR", c.KafkaAddr}, {"CXPULSE_INGEST_ADDR", c.IngestAddr}, {"CXPULSE_AGGREGATOR_ADDR", c.AggregatorAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", a.env, a.addr))
		}
	}
	if c.Rate < 1 || c.Rate > 5000 {
		errs = append(errs, fmt.Errorf("CXPULSE_DEMO_RATE: %d must be 1-5000", c.Rate))
	}
	if c.RedisAddr != "" {
		if _, port, err := net.SplitHostPort(c.RedisAddr); err != nil || port == "" || port == "0" {
			errs = append(errs, fmt.Errorf("CXPULSE_DEMO_REDIS_ADDR: %q is not host:port with a port", c.RedisAddr))
		}
	}
	if c.Duration < 0 {
		errs = append(errs, errors.New("CXPULSE_DEMO_DURATION: must not be negative"))
	}
	if err := config.ValidLogLevel(c.Level); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LogFormat returns the log format.
func (c *Config) LogFormat() string { return c.Log }

// LogLevel returns the least severe level logged.
func (c *Config) LogLevel() string { return c.Level }
