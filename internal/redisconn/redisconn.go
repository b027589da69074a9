// Package redisconn builds cxpulse's Redis client from one Config: a
// single server, a Cluster or a Sentinel-watched primary, over TLS when
// asked, with an ACL user and a password that may come from a file. It
// names, at start, a refusal retrying will not mend. What is stored is left
// to the store.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/tlsfiles"
)

// Config is how cxpulse connects to Redis.
type Config struct {
	// URL names the server (redis://[user:password@]host:port/db, rediss://
	// for TLS), or with Cluster the nodes, or with SentinelMaster the
	// sentinels (redis://h:7000?addr=h:7001&addr=h:7002; its user and
	// password are the sentinels'). Default DefaultURL for the services;
	// the cxpulse commands have none (Register).
	URL string
	// Cluster selects Redis Cluster. Default 0.
	Cluster bool
	// SentinelMaster is the name of the primary the sentinels watch; when
	// set, URL lists sentinels. Default none.
	SentinelMaster string
	// TLSFiles trust a CA (implying TLS) and give a client certificate.
	TLSFiles tlsfiles.Files
	// Password of the data nodes' user, over the URL's. Default none.
	Password string
}

// DefaultURL is the services' Redis when CXPULSE_REDIS_URL is unset.
const DefaultURL = "redis://localhost:6379/0"

// Register adds the Redis settings to s, with defaultURL the Redis when
// CXPULSE_REDIS_URL is unset ("": none, and Validate names the setting).
func (c *Config) Register(s *config.Set, defaultURL string) {
	s.String(&c.URL, "CXPULSE_REDIS_URL", defaultURL, "Redis URL (rediss:// for TLS); with CXPULSE_REDIS_CLUSTER=1 the cluster nodes as redis://h:7000?addr=h:7001&addr=h:7002, with CXPULSE_REDIS_SENTINEL_MASTER the sentinels")
	s.Bool(&c.Cluster, "CXPULSE_REDIS_CLUSTER", false, "use Redis Cluster")
	s.String(&c.SentinelMaster, "CXPULSE_REDIS_SENTINEL_MASTER", "", "name of the primary the sentinels of CXPULSE_REDIS_URL watch")
	s.String(&c.TLSFiles.CAFile, "CXPULSE_REDIS_TLS_CA_FILE", "", "PEM certificates to trust for Redis (implies TLS)")
	s.String(&c.TLSFiles.CertFile, "CXPULSE_REDIS_TLS_CERT_FILE", "", "client certificate for mutual TLS with Redis (PEM)")
	s.String(&c.TLSFiles.KeyFile, "CXPULSE_REDIS_TLS_KEY_FILE", "", "client key for mutual TLS with Redis (PEM)")
	s.Secret(&c.Password, "CXPULSE_REDIS_PASSWORD", "password of the Redis user (over the URL's)")
}

// Validate checks the settings and names the bad ones.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("CXPULSE_REDIS_URL is not set: name the Redis of the aggregators (there is no default, so that a forgotten setting never reads or writes whatever Redis this machine reaches)")
	}
	if c.Cluster && c.SentinelMaster != "" {
		return errors.New("CXPULSE_REDIS_CLUSTER and CXPULSE_REDIS_SENTINEL_MASTER: a Cluster has no sentinels; set one of them")
	}
	if _, err := c.Options(); err != nil {
		return fmt.Errorf("CXPULSE_REDIS_URL: %w", err)
	}
	return nil
}

// Addrs names the servers of the settings, as a person reads them (no
// password): "h:6379", or the nodes or sentinels joined by commas.
func (c *Config) Addrs() string {
	o, err := c.Options()
	if err != nil {
		return c.URL
	}
	return strings.Join(o.Addrs, ",")
}

// Options returns the client options of the settings.
func (c *Config) Options() (*redis.UniversalOptions, error) {
	var o *redis.UniversalOptions
	switch {
	case c.Cluster:
		co, err := redis.ParseClusterURL(c.URL)
		if err != nil {
			return nil, err
		}
		o = &redis.UniversalOptions{Addrs: co.Addrs, Username: co.Username, Password: co.Password, TLSConfig: co.TLSConfig, IsClusterMode: true}
	case c.SentinelMaster != "":
		fo, err := redis.ParseFailoverURL(c.URL)
		if err != nil {
			return nil, err
		}
		o = &redis.UniversalOptions{Addrs: fo.SentinelAddrs, MasterName: c.SentinelMaster, DB: fo.DB,
			SentinelUsername: fo.SentinelUsername, SentinelPassword: fo.SentinelPassword, TLSConfig: fo.TLSConfig}
	default:
		so, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, err
		}
		o = &redis.UniversalOptions{Addrs: []string{so.Addr}, DB: so.DB, Username: so.Username, Password: so.Password, TLSConfig: so.TLSConfig}
	}
	if c.Password != "" {
		o.Password = c.Password
	}
	if c.TLSFiles != (tlsfiles.Files{}) {
		t, err := c.TLSFiles.Build("CXPULSE_REDIS_TLS")
		if err != nil {
			return nil, err
		}
		if o.TLSConfig != nil {
			t.ServerName = o.TLSConfig.ServerName
		}
		o.TLSConfig = t
	}
	return o, nil
}

// Client returns the client of the settings, which Validate accepted.
func (c *Config) Client() (redis.UniversalClient, error) {
	o, err := c.Options()
	if err != nil {
		return nil, fmt.Errorf("CXPULSE_REDIS_URL: %w", err)
	}
	return redis.NewUniversalClient(o), nil
}

// PermanentError is a Redis refusal retrying will not mend.
type PermanentError struct {
	Cause string
	Err   error
}

func (e *PermanentError) Error() string { return e.Cause }
func (e *PermanentError) Unwrap() error { return e.Err }

// Check tries Redis once, at start, with the kinds of command cxpulse
// runs (a script, reads, writes, a transaction, TIME), after checking
// that the server is Redis 7.0 or later, on a key of its own:
// nil when they ran or Redis is not reachable yet (that may pass); a
// *PermanentError naming the cause when Redis refused for a reason
// retrying will not mend (a wrong password, an ACL without a command or
// the cxpulse:* keys, an untrusted certificate). A service exits on it.
func Check(ctx context.Context, rdb redis.UniversalClient) error {
	err := rdb.Ping(ctx).Err()
	if err == nil {
		err = probe(ctx, rdb)
	}
	if why := Explain(err); why != "" {
		return &PermanentError{Cause: why, Err: err}
	}
	return nil
}

// ProbeKey is the key Check writes and deletes.
const ProbeKey = "cxpulse:{probe}:check"

var probeScript = redis.NewScript(`redis.call('HSET', KEYS[1], 'ok', 1)
local v = redis.call('HGET', KEYS[1], 'ok')
redis.call('DEL', KEYS[1])
return v`)

// errTooOld is a server older than the Redis 7.0 cxpulse's scripts need
// (PEXPIRE … GT).
var errTooOld = errors.New("the server is older than Redis 7.0, which cxpulse needs (its scripts run PEXPIRE … GT)")

func probe(ctx context.Context, rdb redis.UniversalClient) error {
	// INFO is @dangerous, which the documented ACL user may not run: the
	// version is then left unchecked.
	info, err := rdb.Info(ctx, "server").Result()
	switch {
	case err == nil:
		if v := serverVersion(info); v != "" && majorVersion(v) < 7 {
			return fmt.Errorf("%w: redis_version %s", errTooOld, v)
		}
	case !strings.Contains(err.Error(), "NOPERM"):
		return fmt.Errorf("reading the server's version: %w", err)
	}
	if err := probeScript.Run(ctx, rdb, []string{ProbeKey}).Err(); err != nil {
		return fmt.Errorf("running a script: %w", err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Exists(ctx, ProbeKey)
		return nil
	}); err != nil {
		return fmt.Errorf("running a transaction: %w", err)
	}
	if err := rdb.Time(ctx).Err(); err != nil {
		return fmt.Errorf("reading the server time: %w", err)
	}
	return nil
}

// Explain names the cause of a Redis error retrying will not mend, or
// returns "".
func Explain(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case err == nil:
		return ""
	case strings.Contains(err.Error(), "WRONGPASS"):
		return "redis: the user or password is refused (the user in CXPULSE_REDIS_URL, CXPULSE_REDIS_PASSWORD): " + err.Error()
	case strings.Contains(err.Error(), "NOAUTH"):
		return "redis: a password is required (CXPULSE_REDIS_PASSWORD, or the user in CXPULSE_REDIS_URL): " + err.Error()
	case errors.Is(err, errTooOld):
		return "redis: " + err.Error()
	case strings.Contains(err.Error(), "NOPERM"):
		return "redis: the ACL user may not run what cxpulse needs (docs/security.md lists the commands): " + err.Error()
	case errors.As(err, &unknown), errors.As(err, &verify):
		return "redis: the server's TLS certificate is not trusted (CXPULSE_REDIS_TLS_CA_FILE): " + err.Error()
	case errors.As(err, &hostname):
		return "redis: the server's TLS certificate is not for the host in CXPULSE_REDIS_URL: " + err.Error()
	case strings.Contains(err.Error(), "tls: bad certificate"), strings.Contains(err.Error(), "tls: certificate required"):
		return "redis: the server refused this client's TLS certificate (CXPULSE_REDIS_TLS_CERT_FILE): " + err.Error()
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return "redis: the server does not speak TLS on this port (rediss:// or CXPULSE_REDIS_TLS_CA_FILE is set)"
	}
	return ""
}

// serverVersion reads redis_version from INFO server ("" when absent).
func serverVersion(info string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// majorVersion is the leading number of a version (0 when unreadable).
func majorVersion(v string) int {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}
