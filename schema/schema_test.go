package schema_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/schema"
	"github.com/picloud/picloud/store/storetest"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestMigrate_AppliesAllAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connect(t, storetest.NewEmptyDB(t))

	current, latest, err := schema.Status(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, 0, current, "a fresh database is at version 0")
	require.GreaterOrEqual(t, latest, 9)

	require.NoError(t, schema.Migrate(ctx, conn, hclog.NewNullLogger()))
	current, _, err = schema.Status(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, latest, current)

	// Running again changes nothing and does not fail.
	require.NoError(t, schema.Migrate(ctx, conn, nil))
	current, _, err = schema.Status(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, latest, current)

	for _, table := range []string{"functions", "function_versions", "tokens", "invocations", "kv", "secrets", "app_secrets"} {
		var exists bool
		require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists))
		require.True(t, exists, "table %s", table)
	}
}

func TestMigrate_ConcurrentCallsDoNotRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyDB(t)
	const n = 4
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conns[i] = connect(t, url)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = schema.Migrate(ctx, conns[i], nil)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "migrator %d", i)
	}
	current, latest, err := schema.Status(ctx, conns[0])
	require.NoError(t, err)
	require.Equal(t, latest, current)
}

func TestLatest_CountsEmbeddedFiles(t *testing.T) {
	t.Parallel()
	latest, err := schema.Latest()
	require.NoError(t, err)
	require.GreaterOrEqual(t, latest, 9, "001-009 belong to the store")
}
