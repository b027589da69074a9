// Package kafkaconn builds every Kafka connection cxpulse makes in
// production code (writers, partition readers, consumer groups and admin
// clients) from one Config, so that a connection setting is made in one
// place for ingest, the aggregator and every tool. What is read or written
// is left to the callers.
package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// Defaults of the connection settings.
const (
	// DefaultClientID is the client id cxpulse connects with.
	DefaultClientID = "cxpulse"
	// dialTimeout bounds one connection attempt.
	dialTimeout = 3 * time.Second
	// idleTimeout closes a writer's connection unused this long.
	idleTimeout = 30 * time.Second
)

// Config is how cxpulse connects to Kafka.
type Config struct {
	// Brokers are the bootstrap brokers. Default localhost:9092.
	Brokers []string
	// ClientID names cxpulse to the brokers (quotas, logs). Default
	// "cxpulse".
	ClientID string
}

// Register adds the Kafka connection settings to s.
func (c *Config) Register(s *config.Set) {
	s.List(&c.Brokers, "CXPULSE_KAFKA_BROKERS", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	s.String(&c.ClientID, "CXPULSE_KAFKA_CLIENT_ID", DefaultClientID, "client id cxpulse connects to Kafka with")
}

// Validate checks the settings and names the bad ones.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("CXPULSE_KAFKA_BROKERS: at least one broker is needed"))
	}
	for _, b := range c.Brokers {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			errs = append(errs, fmt.Errorf("CXPULSE_KAFKA_BROKERS: %q is not host:port", b))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) clientID() string {
	if c.ClientID == "" {
		return DefaultClientID
	}
	return c.ClientID
}

// Transport returns a transport for writers and admin clients; each call
// makes a new one, with its own connections and metadata cache.
func (c *Config) Transport() *kafka.Transport {
	return &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: dialTimeout}).DialContext,
		DialTimeout: dialTimeout,
		IdleTimeout: idleTimeout,
		ClientID:    c.clientID(),
	}
}

// Dialer returns a dialer for readers and consumer groups.
func (c *Config) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: dialTimeout, DualStack: true, ClientID: c.clientID()}
}

// Writer returns a writer set up as events.NewWriter sets one up (acks
// from every in-sync replica, murmur2 keys, a short batch timeout), over
// this configuration's transport. The topic is set per message.
func (c *Config) Writer() *kafka.Writer {
	return events.NewWriter(c.Brokers, events.WithTransport(c.Transport()))
}

// Client returns an admin client whose requests time out after timeout,
// with a transport of its own: keep it for repeated requests.
func (c *Config) Client(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: c.Transport()}
}

// Reader returns a reader of one partition (or of a group, as kafka-go
// allows) with rc's settings, connecting through this configuration.
func (c *Config) Reader(rc kafka.ReaderConfig) *kafka.Reader {
	rc.Brokers, rc.Dialer = c.Brokers, c.Dialer()
	return kafka.NewReader(rc)
}

// ConsumerGroup joins the consumer group of gc through this
// configuration.
func (c *Config) ConsumerGroup(gc kafka.ConsumerGroupConfig) (*kafka.ConsumerGroup, error) {
	gc.Brokers, gc.Dialer = c.Brokers, c.Dialer()
	return kafka.NewConsumerGroup(gc)
}

// Reachable reports whether a broker answers a metadata request, on a
// fresh connection: a cached connection or metadata must not report a
// broker reachable after it went away.
func (c *Config) Reachable(ctx context.Context, timeout time.Duration) error {
	tr := c.Transport()
	tr.MetadataTTL = time.Second
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: tr}
	if _, err := cl.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		return fmt.Errorf("kafka unreachable: %w", err)
	}
	return nil
}
