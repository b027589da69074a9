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
	e1, _, found, err := s.Claim(ctx, "g", "cx.surveys/3")
	require.NoError(t, err)
	require.False(t, found)
	require.NoError(t, s.Commit(ctx, "g", "cx.surveys/3", e1, 42))
	e2, resume, found, err := s.Claim(ctx, "g", "cx.surveys/3")
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 42, resume)
	require.Greater(t, e2, e1)
	require.ErrorIs(t, s.Commit(ctx, "g", "cx.surveys/3", e1, 50), claims.ErrFenced)
	offs, err := s.ResumeOffsets(ctx, "g", []string{"cx.surveys/3", "cx.surveys/4"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"cx.surveys/3": 42}, offs)
}

func TestCommitManyReportsTheFencedPartition(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	s := claims.New(rdb)
	ctx := t.Context()
	a, _, _, err := s.Claim(ctx, "g", "cx.surveys/0")
	require.NoError(t, err)
	b, _, _, err := s.Claim(ctx, "g", "cx.surveys/1")
	require.NoError(t, err)
	_, _, _, err = s.Claim(ctx, "g", "cx.surveys/1") // a newer claim of partition 1
	require.NoError(t, err)
	fenced, err := s.CommitMany(ctx, "g", []claims.Offset{{Partition: "cx.surveys/0", Epoch: a, End: 7}, {Partition: "cx.surveys/1", Epoch: b, End: 9}})
	require.NoError(t, err)
	require.Equal(t, "cx.surveys/1", fenced)
	offs, err := s.ResumeOffsets(ctx, "g", []string{"cx.surveys/0", "cx.surveys/1"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"cx.surveys/0": 7}, offs, "the fenced claim records nothing")
}
