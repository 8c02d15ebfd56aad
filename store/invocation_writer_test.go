package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

func countInvocations(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.Pool().QueryRow(stCtx(t), `SELECT count(*) FROM invocations`).Scan(&n))
	return n
}

func TestInvocationWriter_DropsWhenFullAndFlushesOnStop(t *testing.T) {
	t.Parallel()
	s := stNew(t)
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{BufferSize: 10, BatchSize: 4})
	// Not started: nothing drains the buffer, so the 11th record overflows.
	for i := range 15 {
		ok := w.Add(newInvocation("hello", functions.StatusSucceeded))
		require.Equal(t, i < 10, ok, "record %d", i)
	}
	require.EqualValues(t, 5, w.Dropped())
	require.Equal(t, 10, w.Buffered())

	w.Stop()
	w.Stop() // twice is fine
	require.EqualValues(t, 10, w.Written())
	require.Equal(t, 10, countInvocations(t, s))
	require.False(t, w.Add(newInvocation("hello", functions.StatusSucceeded)), "stopped writers drop")
	require.EqualValues(t, 6, w.Dropped())
}

func TestInvocationWriter_NeverBlocksWhileTheDatabaseIsStuck(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{BufferSize: 20, BatchSize: 1, WriteTimeout: 2 * time.Minute})
	require.NoError(t, w.Start(ctx))

	// Another session locks the table: the writer's first batch waits on it.
	locker, err := pgx.Connect(ctx, s.Pool().Config().ConnConfig.ConnString())
	require.NoError(t, err)
	defer locker.Close(context.Background())
	tx, err := locker.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE invocations IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	require.True(t, w.Add(newInvocation("hello", functions.StatusSucceeded)))
	// Wait (signal, not time) until the writer took it and is stuck writing.
	require.Eventually(t, func() bool {
		var waiting int
		_ = s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return waiting > 0
	}, time.Minute, 10*time.Millisecond)

	added := 1
	for range 100 { // far over the buffer: must return at once, dropping
		if w.Add(newInvocation("hello", functions.StatusSucceeded)) {
			added++
		}
	}
	require.Equal(t, 21, added, "the stuck record plus a full buffer")
	require.EqualValues(t, 80, w.Dropped())

	require.NoError(t, tx.Rollback(ctx))
	w.Stop()
	require.EqualValues(t, 21, w.Written())
	require.Zero(t, w.Failed())
	require.Equal(t, 21, countInvocations(t, s))
}

func TestInvocationWriter_FlushWritesWhatWasAdded(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	// A long delay: only Flush (or a full batch) writes.
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{FlushDelay: time.Hour, BatchSize: 5})
	require.NoError(t, w.Start(ctx))
	defer w.Stop()
	invs := []functions.Invocation{}
	for range 7 {
		inv := newInvocation("hello", functions.StatusSucceeded)
		invs = append(invs, inv)
		require.True(t, w.Add(inv))
	}
	require.NoError(t, w.Flush(ctx))
	require.Equal(t, 7, countInvocations(t, s))
	got, err := s.GetInvocation(ctx, invs[6].ID)
	require.NoError(t, err)
	require.Equal(t, "hello", got.Function)
}

func TestInvocationWriter_WritesAfterTheDelayWithoutFlush(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{FlushDelay: 5 * time.Millisecond})
	require.NoError(t, w.Start(ctx))
	defer w.Stop()
	require.True(t, w.Add(newInvocation("hello", functions.StatusSucceeded)))
	require.Eventually(t, func() bool { return w.Written() == 1 }, time.Minute, 5*time.Millisecond)
	require.Equal(t, 1, countInvocations(t, s))
}

func TestInvocationWriter_OneBadRecordDoesNotLoseItsBatch(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{FlushDelay: time.Hour})
	require.NoError(t, w.Start(ctx))
	defer w.Stop()
	for i := range 5 {
		status := functions.StatusSucceeded
		if i == 2 {
			status = "bogus"
		}
		require.True(t, w.Add(newInvocation("hello", status)))
	}
	require.NoError(t, w.Flush(ctx))
	require.EqualValues(t, 4, w.Written())
	require.EqualValues(t, 1, w.Failed())
	require.Equal(t, 4, countInvocations(t, s))
}
