package deadletter

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/store"
)

func TestPermanentErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kafka.TopicAuthorizationFailed, true},
		{fmt.Errorf("writing: %w", kafka.InvalidTopic), true},
		{kafka.LeaderNotAvailable, false},
		{kafka.RequestTimedOut, false},
		{context.DeadlineExceeded, false},
		{errors.New("dial tcp: connection refused"), false},
		{kafka.WriteErrors{nil, kafka.NotEnoughReplicas}, false},
		{kafka.WriteErrors{kafka.NotEnoughReplicas, kafka.TopicAuthorizationFailed}, true},
	} {
		require.Equal(t, tc.want, permanent(tc.err), "%v", tc.err)
	}
}

// TestLetterSizes: a letter is whole while it fits, and cut with headers
// saying so when it does not, its detail bounded.
func TestLetterSizes(t *testing.T) {
	w := NewWriter(nil, "cx.")
	small := store.Letter{Key: []byte("acme/1"), Value: []byte(`{"id":`), Reason: ReasonMalformed, Detail: "malformed JSON", Source: "cx.surveys/0/7"}
	m := w.message(&small, maxLetterBytes)
	require.Equal(t, small.Value, m.Value)
	require.Len(t, m.Headers, 3)

	big := small
	big.Value = make([]byte, 600<<10)
	big.Detail = string(make([]byte, 10<<10))
	m = w.message(&big, maxLetterBytes)
	size := len(m.Key) + len(m.Value)
	h := map[string]string{}
	for _, hd := range m.Headers {
		size += len(hd.Key) + len(hd.Value)
		h[hd.Key] = string(hd.Value)
	}
	require.LessOrEqual(t, size, maxLetterBytes)
	require.Equal(t, "true", h["cxpulse-truncated"])
	require.Equal(t, "614400", h["cxpulse-original-size"])
	require.LessOrEqual(t, len(h["cxpulse-detail"]), maxDetailBytes+len("…"))
	require.Equal(t, "cx.deadletter", m.Topic)
}
