package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

// stCtx returns a context bounded generously for a loaded machine.
func stCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// stOpen opens a store on url, closed in t.Cleanup.
func stOpen(t *testing.T, url string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(stCtx(t), url, hclog.NewNullLogger(), opts...)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// stNew returns a store on a fresh migrated database of its own, with a
// secret key.
func stNew(t *testing.T, opts ...store.Option) *store.Store {
	t.Helper()
	key := make([]byte, store.SecretKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	return stOpen(t, storetest.NewDB(t), append([]store.Option{store.WithSecretKey(key)}, opts...)...)
}

// queryCounter is a pgx tracer counting the statements sent.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestOpen_BadURLFails(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=5", nil)
	require.Error(t, err)
}

func TestReady_NeedsMigrations(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stOpen(t, storetest.NewEmptyDB(t))
	require.ErrorIs(t, s.Ready(ctx), store.ErrNotMigrated)

	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Ready(ctx))
	require.NoError(t, s.Migrate(ctx), "migrating twice is a no-op")
	cur, latest, err := s.SchemaStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, latest, cur)
}
