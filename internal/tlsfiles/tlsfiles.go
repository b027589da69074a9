// Package tlsfiles builds a TLS client configuration from the files an
// operator names (CA, client certificate and key), with errors naming the
// settings. Which connection uses it is left to callers.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Files are the files of a TLS client configuration, each optional.
type Files struct {
	// CAFile holds the PEM certificates to trust (default: the system's).
	CAFile string
	// CertFile and KeyFile hold this client's certificate and key, for
	// mutual TLS; both or neither.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry (default:
	// the host dialled).
	ServerName string
	// InsecureSkipVerify trusts any server certificate.
	InsecureSkipVerify bool
}

// Build returns the TLS configuration; the settings named in errors are
// under prefix (CXPULSE_KAFKA_TLS, CXPULSE_REDIS_TLS).
func (f Files) Build(prefix string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // asked for, and logged loudly
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s_CA_FILE: %w", prefix, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s_CA_FILE: %s holds no PEM certificate", prefix, f.CAFile)
		}
	}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s_CERT_FILE and %s_KEY_FILE: %w", prefix, prefix, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case f.CertFile != "" || f.KeyFile != "":
		return nil, fmt.Errorf("%s_CERT_FILE and %s_KEY_FILE: set both for mutual TLS, or neither", prefix, prefix)
	}
	return c, nil
}
