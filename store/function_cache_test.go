package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

// changes collects OnChange calls.
func changes() (chan string, func(string)) {
	ch := make(chan string, 64)
	return ch, func(name string) { ch <- name }
}

func waitChange(t *testing.T, ch chan string, want string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("no change notification for %q", want)
		}
	}
}

func TestFunctionCache_HitDoesNoQuery(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	var counter queryCounter
	s := stNew(t, store.WithTracer(&counter))
	_, err := s.CreateFunction(ctx, deployParams("hello", "v = 1"))
	require.NoError(t, err)

	c := store.NewFunctionCache(s, store.FunctionCacheConfig{})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()

	f, err := c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion)
	before := counter.n.Load()
	for range 100 {
		f, err = c.Get(ctx, "hello")
		require.NoError(t, err)
		require.Equal(t, "v = 1", f.Current.Source)
	}
	require.Equal(t, before, counter.n.Load(), "warm Gets send no statement")
	hits, misses := c.Stats()
	require.EqualValues(t, 100, hits)
	require.EqualValues(t, 1, misses)
}

func TestFunctionCache_DeployOnAnotherNodeInvalidates(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	nodeA := stOpen(t, url)
	nodeB := stOpen(t, url) // another pool, as another node

	ch, onChange := changes()
	c := store.NewFunctionCache(nodeA, store.FunctionCacheConfig{OnChange: onChange})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()

	_, err := c.Get(ctx, "hello")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = nodeB.CreateFunction(ctx, deployParams("hello", "v = 1"))
	require.NoError(t, err)
	waitChange(t, ch, "hello") // drops the miss remembered above
	f, err := c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion)

	_, err = nodeB.DeployVersion(ctx, deployParams("hello", "v = 2"))
	require.NoError(t, err)
	waitChange(t, ch, "hello")
	f, err = c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 2, f.CurrentVersion)
	require.Equal(t, "v = 2", f.Current.Source)

	_, err = nodeB.Rollback(ctx, "hello", 0)
	require.NoError(t, err)
	waitChange(t, ch, "hello")
	f, err = c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion)

	require.NoError(t, nodeB.DeleteFunction(ctx, "hello"))
	waitChange(t, ch, "hello")
	_, err = c.Get(ctx, "hello")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestFunctionCache_FlushesAfterReconnect(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	nodeA := stOpen(t, url)
	nodeB := stOpen(t, url)
	_, err := nodeB.CreateFunction(ctx, deployParams("hello", "v = 1"))
	require.NoError(t, err)

	ch, onChange := changes()
	c := store.NewFunctionCache(nodeA, store.FunctionCacheConfig{OnChange: onChange, MinBackoff: time.Millisecond})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()
	f, err := c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion)

	// Kill the listener's session, then deploy while it may be away.
	var killed int
	require.NoError(t, nodeB.Pool().QueryRow(ctx, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'LISTEN%') k`).Scan(&killed))
	require.Equal(t, 1, killed)
	waitChange(t, ch, "") // lost
	_, err = nodeB.DeployVersion(ctx, deployParams("hello", "v = 2"))
	require.NoError(t, err)
	f, err = c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 2, f.CurrentVersion, "no stale entry survives a lost connection")

	waitChange(t, ch, "") // back
	require.True(t, c.Listening())
	f, err = c.Get(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 2, f.CurrentVersion)
	_, err = nodeB.DeployVersion(ctx, deployParams("hello", "v = 3"))
	require.NoError(t, err)
	// The v2 deploy's own notification may still be queued; each round
	// waits for one more notification of hello.
	for f.CurrentVersion != 3 {
		waitChange(t, ch, "hello")
		f, err = c.Get(ctx, "hello")
		require.NoError(t, err)
	}
	// v3 may have been read before its own notification arrived (when
	// the loop consumed v2's): that notification then drops it once more.
	require.Eventually(t, func() bool {
		hits, _ := c.Stats()
		_, err := c.Get(ctx, "hello")
		hits2, _ := c.Stats()
		return err == nil && hits2 == hits+1
	}, time.Minute, 5*time.Millisecond, "caching again after reconnecting")
}

func TestFunctionCache_StopEndsItsGoroutines(t *testing.T) {
	// Not parallel: counts goroutines.
	ignore := goleak.IgnoreCurrent()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	func() {
		s := stOpen(t, url)
		defer s.Close()
		c := store.NewFunctionCache(s, store.FunctionCacheConfig{})
		require.NoError(t, c.Start(ctx))
		_, err := c.Get(ctx, "nothing")
		require.ErrorIs(t, err, store.ErrNotFound)
		c.Stop()
		c.Stop()
		w := store.NewInvocationWriter(s, store.InvocationWriterConfig{})
		require.NoError(t, w.Start(ctx))
		w.Add(newInvocation("x", functions.StatusSucceeded))
		w.Stop()
	}()
	goleak.VerifyNone(t, ignore)
}

func TestFunctionCache_UnknownNameCostsOneQueryUntilDeployed(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	var counter queryCounter
	nodeA := stOpen(t, url, store.WithTracer(&counter))
	nodeB := stOpen(t, url)
	ch, onChange := changes()
	c := store.NewFunctionCache(nodeA, store.FunctionCacheConfig{OnChange: onChange})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()

	before := counter.n.Load()
	for range 200 {
		_, err := c.Get(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.LessOrEqual(t, counter.n.Load()-before, int64(1), "statements for 200 lookups of an unknown name")

	// Deployed on another node: served once its notification arrives,
	// as a redeploy is.
	_, err := nodeB.CreateFunction(ctx, deployParams("nope", "v = 1"))
	require.NoError(t, err)
	waitChange(t, ch, "nope")
	f, err := c.Get(ctx, "nope")
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion)

	// Deployed through this node: the API invalidates the name at once.
	_, err = c.Get(ctx, "later")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = nodeA.CreateFunction(ctx, deployParams("later", "v = 1"))
	require.NoError(t, err)
	c.Invalidate("later")
	f, err = c.Get(ctx, "later")
	require.NoError(t, err)
	require.Equal(t, "v = 1", f.Current.Source)
}

func TestFunctionCache_RemembersBoundedMisses(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	c := store.NewFunctionCache(stNew(t), store.FunctionCacheConfig{MaxMisses: 8})
	require.NoError(t, c.Start(ctx))
	defer c.Stop()
	for i := range 100 {
		_, err := c.Get(ctx, fmt.Sprintf("random-%d", i))
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.Equal(t, 8, store.FunctionCacheMisses(c))
}
