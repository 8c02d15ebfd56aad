package store_test

import (
	"fmt"
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

func TestTokenCache_BadTokenCostsOneQueryUntilCreated(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	var counter queryCounter
	nodeA := stOpen(t, url, store.WithTracer(&counter))
	nodeB := stOpen(t, url)
	c := store.NewTokenCache(nodeA, store.TokenCacheConfig{TTL: time.Hour})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()

	before := counter.n.Load()
	for range 200 {
		_, err := c.Get(ctx, hashOf("guess"))
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.LessOrEqual(t, counter.n.Load()-before, int64(1), "statements for 200 lookups of a bad token")

	// A token created later with that secret (on any node) works as soon
	// as its creation's notification arrives.
	tok, err := nodeB.CreateToken(ctx, "late", []string{"invoke"}, hashOf("guess"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := c.Get(ctx, hashOf("guess"))
		return err == nil && got.ID == tok.ID
	}, time.Minute, 5*time.Millisecond, "the created token is served")
}

func TestTokenCache_RemembersBoundedMisses(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	c := store.NewTokenCache(stNew(t), store.TokenCacheConfig{MaxMisses: 8})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()
	for i := range 100 {
		_, err := c.Get(ctx, hashOf(fmt.Sprint(i)))
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.Equal(t, 8, store.TokenCacheMisses(c))
}
