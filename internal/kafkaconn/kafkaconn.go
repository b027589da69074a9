// Package kafkaconn builds every Kafka connection cxpulse makes in
// production code (writers, partition readers, consumer groups and admin
// clients) from one Config, so that a connection setting is made in one
// place for ingest, the aggregator and every tool. What is read or written
// is left to the callers.
package kafkaconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/tlsfiles"
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

// Config is how cxpulse connects to Kafka. Validate (or Prepare) builds
// its TLS and SASL parts before any connection is made.
type Config struct {
	// Brokers are the bootstrap brokers. Default localhost:9092.
	Brokers []string
	// ClientID names cxpulse to the brokers (quotas, logs). Default
	// "cxpulse".
	ClientID string
	// TLS connects over TLS, trusting the system's roots unless
	// TLSFiles.CAFile is set (which implies TLS). Default 0.
	TLS      bool
	TLSFiles tlsfiles.Files
	// SASLMechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM
	// (the AWS default credential chain); empty for none. Default none.
	SASLMechanism string
	// SASLUsername and SASLPassword are the SASL credentials (PLAIN,
	// SCRAM); the password may come from a file. Default none.
	SASLUsername, SASLPassword string

	tls       *tls.Config
	mechanism sasl.Mechanism
}

// Register adds the Kafka connection settings to s.
func (c *Config) Register(s *config.Set) {
	s.List(&c.Brokers, "CXPULSE_KAFKA_BROKERS", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	s.String(&c.ClientID, "CXPULSE_KAFKA_CLIENT_ID", DefaultClientID, "client id cxpulse connects to Kafka with")
	s.Bool(&c.TLS, "CXPULSE_KAFKA_TLS", false, "connect to Kafka over TLS (system roots unless CXPULSE_KAFKA_TLS_CA_FILE)")
	s.String(&c.TLSFiles.CAFile, "CXPULSE_KAFKA_TLS_CA_FILE", "", "PEM certificates to trust for Kafka (implies TLS)")
	s.String(&c.TLSFiles.CertFile, "CXPULSE_KAFKA_TLS_CERT_FILE", "", "client certificate for mutual TLS with Kafka (PEM)")
	s.String(&c.TLSFiles.KeyFile, "CXPULSE_KAFKA_TLS_KEY_FILE", "", "client key for mutual TLS with Kafka (PEM)")
	s.String(&c.TLSFiles.ServerName, "CXPULSE_KAFKA_TLS_SERVER_NAME", "", "name the brokers' certificate must carry (default: the host dialled)")
	s.Bool(&c.TLSFiles.InsecureSkipVerify, "CXPULSE_KAFKA_TLS_INSECURE_SKIP_VERIFY", false, "trust any broker certificate (testing only; logged loudly)")
	s.String(&c.SASLMechanism, "CXPULSE_KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM")
	s.String(&c.SASLUsername, "CXPULSE_KAFKA_SASL_USERNAME", "", "SASL user (PLAIN, SCRAM)")
	s.Secret(&c.SASLPassword, "CXPULSE_KAFKA_SASL_PASSWORD", "SASL password (PLAIN, SCRAM)")
}

// Prepare builds the TLS and SASL parts from the settings; Validate calls
// it. Code that fills a Config by hand calls it before connecting.
func (c *Config) Prepare(ctx context.Context) error { return c.prepare(ctx) }

// Validate checks the settings, names the bad ones, and prepares TLS and
// SASL.
func (c *Config) Validate() error {
	errs := []error{c.prepare(context.Background())}
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
		TLS:         c.tls,
		SASL:        c.mechanism,
	}
}

// Dialer returns a dialer for readers and consumer groups.
func (c *Config) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: dialTimeout, DualStack: true, ClientID: c.clientID(), TLS: c.tls, SASLMechanism: c.mechanism}
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
// broker reachable after it went away. An error retrying cannot mend is
// named (Explain).
func (c *Config) Reachable(ctx context.Context, timeout time.Duration) error {
	tr := c.Transport()
	tr.MetadataTTL = time.Second
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: tr}
	if _, err := cl.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		if why := c.Explain(ctx, err); why != "" {
			return &PermanentError{Cause: why, Err: err}
		}
		return fmt.Errorf("kafka unreachable: %w", err)
	}
	return nil
}

// PermanentError is a Kafka connection error retrying will not mend.
type PermanentError struct {
	Cause string // names the cause and the setting to look at
	Err   error
}

func (e *PermanentError) Error() string { return e.Cause }
func (e *PermanentError) Unwrap() error { return e.Err }

// Warnings lists what is set that weakens the connection, for the
// service to log loudly at start.
func (c *Config) Warnings() []string {
	if c.TLSFiles.InsecureSkipVerify {
		return []string{"CXPULSE_KAFKA_TLS_INSECURE_SKIP_VERIFY=1: the brokers' certificates are NOT checked; anyone on the path can read and change what cxpulse sends and receives"}
	}
	return nil
}

// Check connects once, at start: nil when a broker answered or none is
// reachable yet (that may pass); a *PermanentError when the connection is
// refused for a reason retrying will not mend. A service exits on it.
func (c *Config) Check(ctx context.Context) error {
	err := c.Reachable(ctx, 10*time.Second)
	var perm *PermanentError
	if errors.As(err, &perm) {
		return err
	}
	return nil
}
