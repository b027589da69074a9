package claims_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

func TestClaimAndCommit(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	s := claims.New(rdb)
	ctx := t.Context()
	c1, err := s.Take(ctx, "g", "cx.surveys/3")
	require.NoError(t, err)
	require.False(t, c1.Found)
	out, err := s.CommitMany(ctx, "g", []claims.Offset{{Partition: "cx.surveys/3", Epoch: c1.Epoch, End: 42, Tenants: []string{"acme", "globex"}}})
	require.NoError(t, err)
	require.Equal(t, claims.Outcome{}, out)
	c2, err := s.Take(ctx, "g", "cx.surveys/3")
	require.NoError(t, err)
	require.True(t, c2.Found)
	require.EqualValues(t, 42, c2.Resume)
	require.Equal(t, map[string]int64{"acme": 42, "globex": 42}, c2.Tenants)
	require.Greater(t, c2.Epoch, c1.Epoch)
	out, err = s.CommitMany(ctx, "g", []claims.Offset{{Partition: "cx.surveys/3", Epoch: c1.Epoch, End: 50}})
	require.NoError(t, err)
	require.Equal(t, claims.Outcome{Fenced: "cx.surveys/3"}, out)
	offs, err := s.ResumeOffsets(ctx, "g", []string{"cx.surveys/3", "cx.surveys/4"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"cx.surveys/3": 42}, offs)
}

func TestCommitManyReportsTheFencedPartition(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	s := claims.New(rdb)
	ctx := t.Context()
	a, err := s.Take(ctx, "g", "cx.surveys/0")
	require.NoError(t, err)
	b, err := s.Take(ctx, "g", "cx.surveys/1")
	require.NoError(t, err)
	_, err = s.Take(ctx, "g", "cx.surveys/1") // a newer claim of partition 1
	require.NoError(t, err)
	out, err := s.CommitMany(ctx, "g", []claims.Offset{{Partition: "cx.surveys/0", Epoch: a.Epoch, End: 7}, {Partition: "cx.surveys/1", Epoch: b.Epoch, End: 9}})
	require.NoError(t, err)
	require.Equal(t, claims.Outcome{Fenced: "cx.surveys/1"}, out)
	offs, err := s.ResumeOffsets(ctx, "g", []string{"cx.surveys/0", "cx.surveys/1"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"cx.surveys/0": 7}, offs, "the fenced claim records nothing")
}

// TestCommitFindsALostClaim: a claim gone from Redis (an empty Redis) is
// reported as lost, not as fenced, and nothing is recorded.
func TestCommitFindsALostClaim(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	s := claims.New(rdb)
	ctx := t.Context()
	c, err := s.Take(ctx, "g", "cx.tickets/2")
	require.NoError(t, err)
	require.NoError(t, rdb.FlushAll(ctx).Err())
	out, err := s.CommitMany(ctx, "g", []claims.Offset{{Partition: "cx.tickets/2", Epoch: c.Epoch, End: 5}})
	require.NoError(t, err)
	require.Equal(t, claims.Outcome{Lost: "cx.tickets/2"}, out)
	n, err := rdb.Exists(ctx, claims.Key("g", "cx.tickets/2")).Result()
	require.NoError(t, err)
	require.Zero(t, n)
}
