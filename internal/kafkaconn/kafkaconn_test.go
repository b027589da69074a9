package kafkaconn

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/tlsfiles"
)

// TestMSKIAMSignedPayload: with AWS_MSK_IAM the credentials come from the
// AWS default chain (here the environment) and the first SASL message is
// the signed JSON payload Amazon MSK expects for the broker's host.
func TestMSKIAMSignedPayload(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	c := Config{Brokers: []string{"b-1.msk.example:9098"}, SASLMechanism: MechanismAWSMSKIAM, TLS: true}
	require.NoError(t, c.Prepare(context.Background()))
	m, ok := c.mechanism.(*aws_msk_iam_v2.Mechanism)
	require.True(t, ok)
	m.SignTime = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ctx := sasl.WithMetadata(context.Background(), &sasl.Metadata{Host: "b-1.msk.example", Port: 9098})
	_, payload, err := m.Start(ctx)
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.Unmarshal(payload, &got))
	require.Equal(t, "2020_10_22", got["version"])
	require.Equal(t, "b-1.msk.example", got["host"])
	require.Equal(t, "kafka-cluster:Connect", got["action"])
	require.Equal(t, "AWS4-HMAC-SHA256", got["x-amz-algorithm"])
	require.Equal(t, "AKIDEXAMPLE/20261201/eu-west-1/kafka-cluster/aws4_request", got["x-amz-credential"])
	require.Equal(t, "20261201T100000Z", got["x-amz-date"])
	require.Equal(t, "host", got["x-amz-signedheaders"])
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), got["x-amz-signature"])
}

// TestSecurityErrorsNameTheSetting: bad TLS and SASL settings are
// configuration errors naming the setting.
func TestSecurityErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Brokers: []string{"k:9092"}, SASLMechanism: "GSSAPI"}, `CXPULSE_KAFKA_SASL_MECHANISM: "GSSAPI" is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM`},
		{Config{Brokers: []string{"k:9092"}, SASLMechanism: "PLAIN"}, "CXPULSE_KAFKA_SASL_USERNAME: required with PLAIN"},
		{Config{Brokers: []string{"k:9092"}, SASLUsername: "cx"}, "CXPULSE_KAFKA_SASL_MECHANISM: required"},
		{Config{Brokers: []string{"k:9092"}, TLSFiles: tlsfiles.Files{CAFile: "/nonexistent.pem"}}, "CXPULSE_KAFKA_TLS_CA_FILE: open /nonexistent.pem"},
		{Config{Brokers: []string{"k:9092"}, TLSFiles: tlsfiles.Files{CertFile: "/c.pem"}}, "CXPULSE_KAFKA_TLS_CERT_FILE and CXPULSE_KAFKA_TLS_KEY_FILE: set both"},
	} {
		require.ErrorContains(t, tc.c.Validate(), tc.want)
	}
}
