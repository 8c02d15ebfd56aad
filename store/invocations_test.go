package store_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

func newInvocation(fn, status string) functions.Invocation {
	return functions.Invocation{
		ID: functions.NewInvocationID(), Function: fn, Version: 1, Trigger: protocol.TriggerHTTP,
		Status: status, Method: "GET", Path: "/", HTTPStatus: 200,
		StartedAt: time.Now().UTC().Truncate(time.Microsecond), Duration: 1500 * time.Microsecond,
	}
}

func TestInvocations_InsertGetRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	inv := newInvocation("hello", functions.StatusFailed)
	inv.HTTPStatus = 500
	inv.Error = "hello.lua:3: boom"
	inv.Logs = []protocol.LogEntry{
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Level: "info", Message: "starting"},
		{Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Level: "error", Message: "boom \"quoted\""},
	}
	inv.LogsDropped = 2
	inv.Result = bytes.Repeat([]byte("x"), functions.MaxResultBytes+10)
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{inv}))

	got, err := s.GetInvocation(ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, inv.ID, got.ID)
	require.Equal(t, "hello", got.Function)
	require.Equal(t, functions.StatusFailed, got.Status)
	require.Equal(t, 500, got.HTTPStatus)
	require.Equal(t, inv.Error, got.Error)
	require.Len(t, got.Logs, 2)
	require.True(t, inv.Logs[0].Time.Equal(got.Logs[0].Time))
	require.Equal(t, inv.Logs[1].Message, got.Logs[1].Message)
	require.Equal(t, 2, got.LogsDropped)
	require.Len(t, got.Result, functions.MaxResultBytes)
	require.True(t, got.ResultTruncated)
	require.True(t, inv.StartedAt.Equal(got.StartedAt))
	require.Equal(t, inv.Duration, got.Duration)
	require.False(t, got.CreatedAt.IsZero())

	// Writing the same id again replaces the record (queued → succeeded).
	inv.Status, inv.HTTPStatus, inv.Error, inv.Result = functions.StatusSucceeded, 200, "", []byte("ok")
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{inv}))
	got, err = s.GetInvocation(ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, functions.StatusSucceeded, got.Status)
	require.Equal(t, []byte("ok"), got.Result)
	require.False(t, got.ResultTruncated)

	_, err = s.GetInvocation(ctx, functions.NewInvocationID())
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetInvocation(ctx, "not-a-uuid")
	require.ErrorIs(t, err, store.ErrNotFound)

	bad := newInvocation("hello", "exploded")
	require.ErrorIs(t, s.InsertInvocations(ctx, []functions.Invocation{bad}), store.ErrInvalid)
}

func TestInvocations_BatchWithDuplicateIDsKeepsTheLast(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	a := newInvocation("hello", functions.StatusRunning)
	b := a
	b.Status = functions.StatusSucceeded
	c := newInvocation("hello", functions.StatusSucceeded)
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{a, c, b}))
	got, err := s.GetInvocation(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, functions.StatusSucceeded, got.Status)
	list, err := s.ListInvocations(ctx, store.InvocationFilter{})
	require.NoError(t, err)
	require.Len(t, list, 2)
}

func TestInvocations_ListFiltersAndPaginates(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	var batch []functions.Invocation
	for i := range 30 {
		fn := "a"
		if i%3 == 0 {
			fn = "b"
		}
		status := functions.StatusSucceeded
		if i%5 == 0 {
			status = functions.StatusFailed
		}
		inv := newInvocation(fn, status)
		inv.Path = fmt.Sprintf("/%d", i)
		batch = append(batch, inv)
	}
	require.NoError(t, s.InsertInvocations(ctx, batch))

	all, err := s.ListInvocations(ctx, store.InvocationFilter{})
	require.NoError(t, err)
	require.Len(t, all, 30)
	for i := range all {
		require.Equal(t, batch[29-i].ID, all[i].ID, "newest first: UUIDv7 ids sort by time")
	}

	onlyB, err := s.ListInvocations(ctx, store.InvocationFilter{Function: "b"})
	require.NoError(t, err)
	require.Len(t, onlyB, 10)
	for _, inv := range onlyB {
		require.Equal(t, "b", inv.Function)
	}
	failedA, err := s.ListInvocations(ctx, store.InvocationFilter{Function: "a", Status: functions.StatusFailed})
	require.NoError(t, err)
	require.Len(t, failedA, 4) // i = 5, 10, 20, 25
	for _, inv := range failedA {
		require.Equal(t, "a", inv.Function)
		require.Equal(t, functions.StatusFailed, inv.Status)
	}

	// Page through everything, 7 at a time.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := s.ListInvocations(ctx, store.InvocationFilter{Before: cursor, Limit: 7})
		require.NoError(t, err)
		for _, inv := range page {
			seen = append(seen, inv.ID)
		}
		if len(page) < 7 {
			break
		}
		cursor = page[len(page)-1].ID
	}
	require.Len(t, seen, 30)
	for i := range seen {
		require.Equal(t, all[i].ID, seen[i], "pages neither skip nor repeat")
	}

	_, err = s.ListInvocations(ctx, store.InvocationFilter{Before: "garbage"})
	require.ErrorIs(t, err, store.ErrInvalid)
	none, err := s.ListInvocations(ctx, store.InvocationFilter{Function: "nobody"})
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestInvocations_StoresAnyBytesAScriptLogs(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	inv := newInvocation("hello", functions.StatusFailed)
	inv.Error = "bad\x00byte \xff here"
	inv.Logs = []protocol.LogEntry{{Time: time.Now(), Level: "info", Message: "nul \x00 and \xc3\x28"}}
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{inv}))
	got, err := s.GetInvocation(ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, "bad\uFFFDbyte \uFFFD here", got.Error)
	require.Equal(t, "nul \uFFFD and \uFFFD(", got.Logs[0].Message)
}

func TestInvocations_SummaryLeavesLogsAndResultOut(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	inv := newInvocation("hello", functions.StatusSucceeded)
	inv.Logs = []protocol.LogEntry{{Time: time.Now(), Level: "info", Message: "hi"}}
	inv.Result = []byte("body")
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{inv}))
	page, err := s.ListInvocations(ctx, store.InvocationFilter{Summary: true})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, inv.ID, page[0].ID)
	require.Equal(t, 200, page[0].HTTPStatus)
	require.Empty(t, page[0].Logs)
	require.Nil(t, page[0].Result)
	full, err := s.ListInvocations(ctx, store.InvocationFilter{})
	require.NoError(t, err)
	require.Len(t, full[0].Logs, 1)
	require.Equal(t, []byte("body"), full[0].Result)
}

// TestInvocations_AsyncPathStoresAnyBytesToo: an async invocation is
// written queued, then finished, by other statements than the batched
// writer's; a path with %00 and invalid UTF-8 and such an error must
// store there as well.
func TestInvocations_AsyncPathStoresAnyBytesToo(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	es := s.Events()
	inv := newInvocation("hello", functions.StatusQueued)
	inv.Path = "/a\x00b\xff"
	require.NoError(t, es.InTx(ctx, func(tx *store.Tx) error { return es.InsertQueuedInvocationTx(ctx, tx, inv, 0) }))
	inv.Status, inv.Error = functions.StatusFailed, "lua: \xff\x00 boom"
	require.NoError(t, es.FinishInvocation(ctx, inv))
	got, err := s.GetInvocation(ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, "/a\uFFFDb\uFFFD", got.Path)
	require.Equal(t, "lua: \uFFFD\uFFFD boom", got.Error)
}
