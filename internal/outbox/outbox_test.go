package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestOutboxTrimsOnlyWhatWasPublished: two publishers read the same head
// of an outbox; one publishes and removes it, new letters arrive, then the
// other removes what it read: the new letters stay.
func TestOutboxTrimsOnlyWhatWasPublished(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	s := outbox.New(rdb)
	ctx := t.Context()
	push := func(from, n int) {
		for i := from; i < from+n; i++ {
			require.NoError(t, rdb.RPush(ctx, "cxpulse:{acme}:outbox", fmt.Sprintf(`{"r":"too_late","s":"cx.surveys/0/%d"}`, i)).Err())
		}
	}
	push(0, 3)
	_, headA, err := s.Letters(ctx, "acme", 10)
	require.NoError(t, err)
	_, headB, err := s.Letters(ctx, "acme", 10)
	require.NoError(t, err)
	require.NoError(t, s.TrimLetters(ctx, "acme", headB))
	push(3, 3)
	require.NoError(t, s.TrimLetters(ctx, "acme", headA))
	left, _, err := s.Letters(ctx, "acme", 10)
	require.NoError(t, err)
	require.Len(t, left, 3)
	require.Equal(t, "cx.surveys/0/3", left[0].Source)
}

// TestAlertStatesAreFenced: once a publisher with a higher lease epoch
// wrote a tenant's alerts, one with a lower epoch writes nothing, neither
// states nor queued notifications.
func TestAlertStatesAreFenced(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	s := outbox.New(rdb)
	ctx := t.Context()
	old, err := s.TakeLease(ctx, "g", "a", time.Minute)
	require.NoError(t, err)
	require.Positive(t, old)
	none, err := s.TakeLease(ctx, "g", "b", time.Minute)
	require.NoError(t, err)
	require.Zero(t, none, "held by a")
	require.NoError(t, rdb.Del(ctx, "cxpulse:{publisher:g}").Err()) // a's lease runs out
	newer, err := s.TakeLease(ctx, "g", "b", time.Minute)
	require.NoError(t, err)
	require.Greater(t, newer, old)

	_, err = s.SaveAlerts(ctx, "acme", newer, 0, map[string][]byte{"fp": []byte(`{"state":"resolved"}`)}, nil, nil)
	require.NoError(t, err)
	_, err = s.SaveAlerts(ctx, "acme", old, 0, map[string][]byte{"fp": []byte(`{"state":"firing"}`)}, nil,
		map[string][][]byte{"webhook": {[]byte(`{"status":"firing"}`)}})
	require.ErrorIs(t, err, outbox.ErrFenced)
	states, err := s.AlertStates(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, `{"state":"resolved"}`, states["fp"])
	n, err := rdb.LLen(ctx, outbox.SinkQueueKey("acme", "webhook")).Result()
	require.NoError(t, err)
	require.Zero(t, n)
}
