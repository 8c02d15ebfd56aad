package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
)

func TestSessions_LiveUntilExpirySignOutOrRevocation(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	_, err := s.CreateToken(ctx, "viewer", []string{"read"}, hashOf("tok"))
	require.NoError(t, err)

	_, err = s.CreateSession(ctx, hashOf("unknown"), hashOf("s0"), time.Now().Add(time.Hour))
	require.ErrorIs(t, err, store.ErrNotFound, "a session needs a live token")

	ss, err := s.CreateSession(ctx, hashOf("tok"), hashOf("s1"), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, "viewer", ss.TokenName)
	require.Equal(t, []string{"read"}, ss.Scopes)
	got, err := s.SessionByHash(ctx, hashOf("s1"))
	require.NoError(t, err)
	require.Equal(t, "viewer", got.TokenName)
	require.Equal(t, ss.TokenID, got.TokenID)
	require.NotZero(t, got.TokenID)
	_, err = s.SessionByHash(ctx, hashOf("tok"))
	require.ErrorIs(t, err, store.ErrNotFound, "a token's hash is not a session")

	_, err = s.CreateSession(ctx, hashOf("tok"), hashOf("old"), time.Now().Add(-time.Second))
	require.NoError(t, err)
	_, err = s.SessionByHash(ctx, hashOf("old"))
	require.ErrorIs(t, err, store.ErrNotFound, "expired")

	require.NoError(t, s.DeleteSession(ctx, hashOf("s1")))
	_, err = s.SessionByHash(ctx, hashOf("s1"))
	require.ErrorIs(t, err, store.ErrNotFound, "signed out")

	_, err = s.CreateSession(ctx, hashOf("tok"), hashOf("s2"), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.RevokeToken(ctx, "viewer"))
	_, err = s.SessionByHash(ctx, hashOf("s2"))
	require.ErrorIs(t, err, store.ErrNotFound, "its token was revoked")
}

func TestFunctionOverview_CountsTheWindowInOneQuery(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	for _, n := range []string{"alpha", "beta", "gamma"} {
		_, err := s.CreateFunction(ctx, deployParams(n, "function handle() end"))
		require.NoError(t, err)
	}
	now := time.Now()
	// The figures come from the per-minute aggregates, written in two
	// batches (the second adds to the first's row).
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{})
	require.NoError(t, w.Start(ctx))
	w.Count("alpha", now, 10*time.Millisecond, false)
	w.Count("alpha", now, 20*time.Millisecond, false)
	require.NoError(t, w.Flush(ctx))
	w.Count("alpha", now, 30*time.Millisecond, true)
	w.Count("beta", now, time.Millisecond, false)
	w.Stop()
	require.Zero(t, w.AggregatesFailed())

	ov, err := s.FunctionOverview(ctx, "", 2, now.Add(-time.Hour), now.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, ov.Functions, 2)
	a := ov.Functions[0]
	require.Equal(t, "alpha", a.Name)
	require.EqualValues(t, 3, a.Calls)
	require.EqualValues(t, 1, a.Errors)
	require.InEpsilon(t, 20.0, a.P50MS, 0.1, "p50 from the histogram")
	require.InEpsilon(t, 30.0, a.P99MS, 0.1, "p99 from the histogram")
	require.Len(t, a.Buckets, store.SparkBuckets)
	require.EqualValues(t, 3, a.Buckets[store.SparkBuckets-1], "the calls fall in the newest slice: %v", a.Buckets)
	require.Equal(t, "beta", ov.Functions[1].Name)
	require.EqualValues(t, 1, ov.Functions[1].Calls)

	// The window starts after these calls: nothing counted.
	ov, err = s.FunctionOverview(ctx, "", 10, now.Add(time.Minute), now.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, ov.Functions, 3)
	require.Zero(t, ov.Functions[0].Calls)

	// The next page.
	ov, err = s.FunctionOverview(ctx, "beta", 10, now.Add(-time.Hour), now.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, ov.Functions, 1)
	require.Equal(t, "gamma", ov.Functions[0].Name)
}
