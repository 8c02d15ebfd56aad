package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

func TestTokenCache_HitDoesNoQueryAndRevocationIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	var counter queryCounter
	nodeA := stOpen(t, url, store.WithTracer(&counter))
	nodeB := stOpen(t, url)
	tok, err := nodeB.CreateToken(ctx, "ci", []string{"invoke"}, hashOf("secret"))
	require.NoError(t, err)

	c := store.NewTokenCache(nodeA, store.TokenCacheConfig{TTL: time.Hour})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()

	got, err := c.Get(ctx, hashOf("secret"))
	require.NoError(t, err)
	require.Equal(t, tok.ID, got.ID)
	before := counter.n.Load()
	for range 50 {
		got, err = c.Get(ctx, hashOf("secret"))
		require.NoError(t, err)
		require.Equal(t, []string{"invoke"}, got.Scopes)
	}
	require.Equal(t, before, counter.n.Load(), "warm lookups send no statement")

	_, err = c.Get(ctx, hashOf("wrong"))
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, nodeB.RevokeToken(ctx, "ci"))
	require.Eventually(t, func() bool {
		_, err := c.Get(ctx, hashOf("secret"))
		return err != nil
	}, time.Minute, 5*time.Millisecond, "the revocation reaches the other node")
	_, err = c.Get(ctx, hashOf("secret"))
	require.ErrorIs(t, err, store.ErrNotFound)
}
