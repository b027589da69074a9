package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"

	signer "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/cxpulse/cxpulse/internal/tlsfiles"
)

// The SASL mechanisms of CXPULSE_KAFKA_SASL_MECHANISM.
const (
	MechanismPlain     = "PLAIN"
	MechanismSCRAM256  = "SCRAM-SHA-256"
	MechanismSCRAM512  = "SCRAM-SHA-512"
	MechanismAWSMSKIAM = "AWS_MSK_IAM"
)

// prepare builds the TLS configuration and the SASL mechanism from the
// settings.
func (c *Config) prepare(ctx context.Context) error {
	var errs []error
	if c.TLS || c.TLSFiles != (tlsfiles.Files{}) {
		t, err := c.TLSFiles.Build("CXPULSE_KAFKA_TLS")
		if err != nil {
			errs = append(errs, err)
		}
		c.tls = t
	}
	switch m := strings.ToUpper(c.SASLMechanism); m {
	case "":
		if c.SASLUsername != "" || c.SASLPassword != "" {
			errs = append(errs, errors.New("CXPULSE_KAFKA_SASL_MECHANISM: required with CXPULSE_KAFKA_SASL_USERNAME or _PASSWORD"))
		}
	case MechanismPlain:
		c.mechanism = plain.Mechanism{Username: c.SASLUsername, Password: c.SASLPassword}
	case MechanismSCRAM256, MechanismSCRAM512:
		algo := scram.SHA256
		if m == MechanismSCRAM512 {
			algo = scram.SHA512
		}
		mech, err := scram.Mechanism(algo, c.SASLUsername, c.SASLPassword)
		if err != nil {
			errs = append(errs, fmt.Errorf("CXPULSE_KAFKA_SASL_MECHANISM: %w", err))
		}
		c.mechanism = mech
	case MechanismAWSMSKIAM:
		// The AWS default credential chain: environment, shared files,
		// web identity, the instance or task role.
		aws, err := awsconfig.LoadDefaultConfig(ctx)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("CXPULSE_KAFKA_SASL_MECHANISM: AWS_MSK_IAM: loading the AWS configuration: %w", err))
		case aws.Region == "":
			errs = append(errs, errors.New("CXPULSE_KAFKA_SASL_MECHANISM: AWS_MSK_IAM needs the cluster's region (AWS_REGION)"))
		default:
			c.mechanism = &aws_msk_iam_v2.Mechanism{Signer: signer.NewSigner(), Credentials: aws.Credentials, Region: aws.Region}
		}
	default:
		errs = append(errs, fmt.Errorf("CXPULSE_KAFKA_SASL_MECHANISM: %q is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM", c.SASLMechanism))
	}
	if c.mechanism != nil && c.SASLMechanism != MechanismAWSMSKIAM && c.SASLUsername == "" {
		errs = append(errs, fmt.Errorf("CXPULSE_KAFKA_SASL_USERNAME: required with %s", c.SASLMechanism))
	}
	return errors.Join(errs...)
}

// Explain names the cause of a Kafka connection error that retrying will
// not mend (a refused login, an untrusted certificate, …), or returns ""
// for one that may pass.
func (c *Config) Explain(ctx context.Context, err error) string {
	if why := c.explain(err); why != "" {
		return why
	}
	// A broker may refuse credentials by closing the connection. If it
	// answers an unauthenticated ApiVersions on a fresh connection, it is
	// up: the closing was the refusal.
	if c.mechanism != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && len(c.Brokers) > 0 {
		d := &kafka.Dialer{Timeout: dialTimeout, ClientID: c.clientID(), TLS: c.tls}
		if conn, derr := d.DialContext(ctx, "tcp", c.Brokers[0]); derr == nil {
			_, verr := conn.ApiVersions()
			_ = conn.Close()
			if verr == nil {
				return c.explain(kafka.SASLAuthenticationFailed)
			}
		}
	}
	return ""
}

func (c *Config) explain(err error) string {
	var kerr kafka.Error
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Sprintf("kafka: SASL authentication failed for user %s (%s)", c.SASLUsername, c.SASLMechanism)
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Sprintf("kafka: the brokers do not take the SASL mechanism %s", c.SASLMechanism)
	case errors.As(err, &unknown), errors.As(err, &verify), errors.As(err, &invalid):
		return fmt.Sprintf("kafka: the brokers' TLS certificate is not trusted (CXPULSE_KAFKA_TLS_CA_FILE): %v", err)
	case errors.As(err, &hostname):
		return fmt.Sprintf("kafka: the brokers' TLS certificate is not for the host dialled (CXPULSE_KAFKA_TLS_SERVER_NAME): %v", err)
	case strings.Contains(err.Error(), "tls: bad certificate"), strings.Contains(err.Error(), "tls: certificate required"):
		return fmt.Sprintf("kafka: the brokers refused this client's TLS certificate (CXPULSE_KAFKA_TLS_CERT_FILE): %v", err)
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return "kafka: the brokers do not speak TLS on this port (CXPULSE_KAFKA_TLS is on)"
	case errors.As(err, &kerr) && !kerr.Temporary() && kerr != kafka.UnknownTopicOrPartition:
		return "kafka: " + err.Error()
	}
	return ""
}
