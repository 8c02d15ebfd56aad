package store_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

// seedAtScale fills the database at url with n functions and calls
// invocations spread over the last 50 minutes (half of them on fn-00000), in
// a few statements of SQL.
func seedAtScale(t *testing.T, url string, n, calls int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a million rows on a loaded machine
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// One statement: each table's foreign key needs the other's row.
	_, err = conn.Exec(ctx, `WITH f AS (
			INSERT INTO functions (name, current_version)
			SELECT format('fn-%s', lpad(i::text, 5, '0')), 1 FROM generate_series(0, $1::int - 1) i RETURNING name
		)
		INSERT INTO function_versions (function, version, source, sha256, limits)
		SELECT name, 1, convert_to('function handle() end', 'UTF8'), 'x', '{}' FROM f`, n)
	require.NoError(t, err)
	// UUIDv7-shaped ids: the millisecond of the call, then random bits.
	_, err = conn.Exec(ctx, `INSERT INTO invocations (id, function, version, trigger, status, duration_us, started_at, created_at)
		SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid,
			CASE WHEN i % 2 = 0 THEN 'fn-00000' ELSE format('fn-%s', lpad((i % $2::int)::text, 5, '0')) END, 1,
			CASE WHEN i % 10 = 0 THEN 'cron' ELSE 'http' END,
			CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 1000 + i % 5000, at, at
		FROM generate_series(1, $1::int) i, LATERAL (SELECT now() - (i % 3000) * interval '1 second' AS at) w`, calls, n)
	require.NoError(t, err)
	// The per-minute aggregates the writer would have kept for those calls
	// (the overview and the charts read them); durations all in the first
	// bucket, the percentiles are not what this test checks.
	_, err = conn.Exec(ctx, `INSERT INTO invocation_minutes (function, minute, calls, errors, duration_us_sum, buckets)
		SELECT function, date_trunc('minute', started_at), count(*), count(*) FILTER (WHERE status = 'failed'),
			sum(duration_us), ARRAY[count(*)]
		FROM invocations GROUP BY 1, 2`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `ANALYZE functions; ANALYZE invocations; ANALYZE invocation_minutes`)
	require.NoError(t, err)
}

// TestDashboardQueries_PageAtScaleWithBoundedQueries seeds 10,000
// functions and 200,000 calls (PICLOUD_SCALE_CALLS sets another number)
// and checks each page the dashboard reads is
// one query returning one page, never everything.
func TestDashboardQueries_PageAtScaleWithBoundedQueries(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 10,000 functions and 200,000 calls")
	}
	url := storetest.NewDB(t)
	const nFunctions = 10000
	nCalls := 200000
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_SCALE_CALLS")); err == nil && v > 0 {
		nCalls = v - v%2 // even: half of them on fn-00000
	}
	seedAtScale(t, url, nFunctions, nCalls)
	ctx := stCtx(t)
	var counter queryCounter
	s := stOpen(t, url, store.WithTracer(&counter))
	now := time.Now()
	measure := func(what string, f func()) {
		t.Helper()
		before, began := counter.n.Load(), time.Now()
		f()
		if n := counter.n.Load() - before; n != 1 {
			t.Errorf("%s: %d queries, want 1", what, n)
		}
		t.Logf("%s: 1 query, %s", what, time.Since(began).Round(time.Millisecond)) // a figure, not a check
	}

	var ov *store.Overview
	measure("overview page", func() {
		var err error
		ov, err = s.FunctionOverview(ctx, "", 100, now.Add(-time.Hour), now)
		require.NoError(t, err)
	})
	require.Len(t, ov.Functions, 100, "one page of the 10,000 functions")
	require.Equal(t, "fn-00000", ov.Functions[0].Name)
	require.Equal(t, int64(nCalls/2), ov.Functions[0].Calls, "fn-00000's calls in the last hour")
	measure("overview next page", func() {
		var err error
		ov, err = s.FunctionOverview(ctx, ov.Functions[99].Name, 100, now.Add(-time.Hour), now)
		require.NoError(t, err)
	})
	require.Equal(t, "fn-00100", ov.Functions[0].Name)
	measure("last overview page", func() {
		var err error
		ov, err = s.FunctionOverview(ctx, "fn-09950", 100, now.Add(-time.Hour), now)
		require.NoError(t, err)
	})
	require.Len(t, ov.Functions, 49)

	var invs []functions.Invocation
	measure("history filtered by trigger and time", func() {
		var err error
		invs, err = s.ListInvocations(ctx, store.InvocationFilter{Function: "fn-00000", Trigger: "cron",
			Since: now.Add(-30 * time.Minute), Until: now.Add(-10 * time.Minute), Limit: 20, Summary: true})
		require.NoError(t, err)
	})
	require.Len(t, invs, 20)
	for _, inv := range invs {
		require.Equal(t, "cron", inv.Trigger)
		require.WithinRange(t, inv.CreatedAt, now.Add(-31*time.Minute), now.Add(-9*time.Minute))
	}

	var pts []store.SeriesPoint
	measure("chart series", func() {
		var err error
		pts, err = s.InvocationSeries(ctx, store.SeriesQuery{Function: "fn-00000", Since: now.Add(-time.Hour), Until: now.Add(time.Minute), Buckets: 60})
		require.NoError(t, err)
	})
	require.Len(t, pts, 60)
	var calls, errs int64
	for _, p := range pts {
		calls += p.Calls
		errs += p.Errors
	}
	require.Equal(t, int64(nCalls/2), calls, "every call of the hour is in one slice")
	require.Positive(t, errs)

	var runs map[string][]store.ScheduleRun
	measure("schedule runs", func() {
		var err error
		runs, err = s.ScheduleRuns(ctx, []string{"fn-00000", "fn-00001", "fn-09999"}, 5)
		require.NoError(t, err)
	})
	require.Len(t, runs["fn-00000"], 5)
	require.Empty(t, runs["fn-00001"], "fn-00001's calls are all odd: never cron")
}

func TestInvocationSeries_SlicesRateErrorsAndLatency(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	since := time.Now().Add(-10 * time.Minute)
	var invs []functions.Invocation
	for i := 0; i < 6; i++ {
		inv := newInvocation("charted", functions.StatusSucceeded)
		inv.Duration = time.Duration(i+1) * time.Millisecond
		if i == 5 {
			inv.Status = functions.StatusFailed
		}
		invs = append(invs, inv)
	}
	invs = append(invs, newInvocation("other", functions.StatusSucceeded))
	// The charts read the per-minute aggregates the writer keeps.
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{})
	require.NoError(t, w.Start(ctx))
	for _, inv := range invs {
		w.Count(inv.Function, time.Now(), inv.Duration, inv.Status == functions.StatusFailed)
	}
	w.Stop()
	pts, err := s.InvocationSeries(ctx, store.SeriesQuery{Function: "charted", Since: since, Until: time.Now().Add(time.Minute), Buckets: 11})
	require.NoError(t, err)
	require.Len(t, pts, 11)
	last := pts[len(pts)-1]
	if last.Calls == 0 { // the calls fell in the slice before the last
		last = pts[len(pts)-2]
	}
	require.Equal(t, int64(6), last.Calls)
	require.Equal(t, int64(1), last.Errors)
	require.InEpsilon(t, 3.0, last.P50MS, 0.1, "p50 from the histogram: the 3rd of 6")
	require.InEpsilon(t, 6.0, last.P99MS, 0.1, "p99 from the histogram")
	_, err = s.InvocationSeries(ctx, store.SeriesQuery{Function: "charted", Since: since, Until: since, Buckets: 10})
	require.ErrorIs(t, err, store.ErrInvalid)
}

// TestInvocationsNotify_OncePerStatementWithTheFunctions: the live tail
// is woken by one notification per write, naming the functions written,
// whether the batched writer's COPY or an upsert wrote them.
func TestInvocationsNotify_OncePerStatementWithTheFunctions(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	s := stOpen(t, url)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "LISTEN "+store.InvocationsChannel)
	require.NoError(t, err)
	next := func() string {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := conn.WaitForNotification(wctx)
		require.NoError(t, err)
		return n.Payload
	}

	a, b := newInvocation("tail-a", functions.StatusSucceeded), newInvocation("tail-b", functions.StatusFailed)
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{a, b, newInvocation("tail-a", functions.StatusSucceeded)}))
	require.Equal(t, "tail-a\ntail-b", next(), "COPY: one notification naming both functions")

	// The same id again: the upsert path.
	a.Status = functions.StatusFailed
	require.NoError(t, s.InsertInvocations(ctx, []functions.Invocation{a}))
	require.Equal(t, "tail-a", next(), "upsert: one notification")

	// The tail's cursor: after an id, oldest first.
	got, err := s.ListInvocations(ctx, store.InvocationFilter{Function: "tail-a", After: store.InvocationIDAt(time.Now().Add(-time.Minute))})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Less(t, got[0].ID, got[1].ID)
	_, err = s.ListInvocations(ctx, store.InvocationFilter{After: got[0].ID, Before: got[1].ID})
	require.ErrorIs(t, err, store.ErrInvalid, "After and Before together")
	require.Equal(t, protocol.TriggerHTTP, got[0].Trigger)
}
