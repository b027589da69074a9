package checkpoint_test

import (
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/checkpoint"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/testenv"
)

// TestStaleOwnerIsRefused: a writer whose tenant another took since, or
// that starts from an old version, writes nothing; the owner's commits go
// through, each moving the version on.
func TestStaleOwnerIsRefused(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	checkStaleOwner(t, rdb)
}

// TestCommitOnACluster: the checkpoint and the hashes of one commit share
// the tenant's slot.
func TestCommitOnACluster(t *testing.T) {
	addrs := testenv.RedisCluster(t, 3)
	opts, err := redis.ParseClusterURL(addrs)
	require.NoError(t, err)
	rdb := redis.NewClusterClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	checkStaleOwner(t, rdb)
}

func checkStaleOwner(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := t.Context()
	cp := checkpoint.New(rdb)
	state, view := keys.Tenant("acme", "state"), keys.View("acme", "all")

	old, err := cp.Claim(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, checkpoint.Claim{Tenant: "acme", Epoch: 1, Version: 0}, old)
	require.NoError(t, cp.Commit(ctx, &old, []checkpoint.Write{{Key: state, Field: "w:all", Value: "v1"}, {Key: view, Field: "24h:nps", Value: "50"}}))
	require.Equal(t, int64(1), old.Version)

	owner, err := cp.Claim(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, checkpoint.Claim{Tenant: "acme", Epoch: 2, Version: 1}, owner)

	err = cp.Commit(ctx, &old, []checkpoint.Write{{Key: state, Field: "w:all", Value: "stale"}, {Key: view, Field: "24h:nps", Delete: true}})
	require.True(t, errors.Is(err, checkpoint.ErrFenced), "%v", err)
	require.ErrorContains(t, err, "at epoch 1, version 1 (the checkpoint is at epoch 2, version 1)")
	require.Equal(t, "v1", rdb.HGet(ctx, state, "w:all").Val(), "the stale writer wrote nothing")
	require.Equal(t, "50", rdb.HGet(ctx, view, "24h:nps").Val())

	require.NoError(t, cp.Commit(ctx, &owner, []checkpoint.Write{{Key: state, Field: "w:all", Value: "v2"}, {Key: view, Field: "24h:nps", Delete: true}}))
	require.Equal(t, "v2", rdb.HGet(ctx, state, "w:all").Val())
	require.Zero(t, rdb.HExists(ctx, view, "24h:nps").Val())
	require.Equal(t, "2", rdb.HGet(ctx, checkpoint.Key("acme"), "version").Val())

	// The owner's own claim at an old version (a commit it lost track of)
	// is refused too.
	behind := owner
	behind.Version = 1
	require.ErrorIs(t, cp.Commit(ctx, &behind, nil), checkpoint.ErrFenced)

	require.ErrorContains(t, cp.Commit(ctx, &owner, []checkpoint.Write{{Key: keys.Tenant("globex", "state"), Field: "f", Value: "x"}}),
		"is not the tenant's")
}
