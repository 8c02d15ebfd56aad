package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
)

func TestHistogramPercentile_FindsTheBucketOfTheRank(t *testing.T) {
	var h [store.DurationBuckets]int64
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 100 * time.Millisecond} {
		h[store.DurationBucket(d)]++
	}
	require.InEpsilon(t, 2.0, store.HistogramPercentile(h[:], 0.5), 0.1)
	require.InEpsilon(t, 100.0, store.HistogramPercentile(h[:], 0.99), 0.1)
	require.Zero(t, store.HistogramPercentile(make([]int64, 4), 0.5), "empty")
	require.Equal(t, store.DurationBuckets-1, store.DurationBucket(time.Hour), "beyond the last bound")
}

// TestInvocationSeries_SpreadsAMinuteOverShorterSlicesKeepingTheTotal: a
// 15-minute chart of 60 slices (15 s each) reads minute aggregates: the
// minute's calls are shared among the slices it covers, and add up.
func TestInvocationSeries_SpreadsAMinuteOverShorterSlicesKeepingTheTotal(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{})
	require.NoError(t, w.Start(ctx))
	now := time.Now()
	for i := 0; i < 21; i++ {
		w.Count("spread", now, time.Millisecond, i%7 == 0)
	}
	w.Stop()
	pts, err := s.InvocationSeries(ctx, store.SeriesQuery{Function: "spread", Since: now.Add(-14 * time.Minute), Until: now.Add(time.Minute), Buckets: 60})
	require.NoError(t, err)
	var calls, errs int64
	nonEmpty := 0
	for _, p := range pts {
		calls += p.Calls
		errs += p.Errors
		if p.Calls > 0 {
			nonEmpty++
		}
	}
	require.EqualValues(t, 21, calls)
	require.EqualValues(t, 3, errs)
	require.GreaterOrEqual(t, nonEmpty, 2, "the minute is spread over its slices: %v", pts)
}
