package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// DurationBuckets is the number of buckets of a duration histogram.
const DurationBuckets = 96

// durationBucketBase is the upper bound of the first bucket; each next
// bound is 2^(1/4) (≈19 %) larger, up to ≈ 10 minutes; the last bucket
// counts everything beyond.
const durationBucketBase = 50 * time.Microsecond

// DurationBucketBounds are the upper bounds (inclusive) of the histogram's
// buckets but the last, which has none.
var DurationBucketBounds = func() [DurationBuckets - 1]time.Duration {
	var b [DurationBuckets - 1]time.Duration
	for i := range b {
		b[i] = time.Duration(float64(durationBucketBase) * math.Pow(2, float64(i)/4))
	}
	return b
}()

// DurationBucket returns the bucket of a run that took d.
func DurationBucket(d time.Duration) int {
	return sort.Search(len(DurationBucketBounds), func(i int) bool { return d <= DurationBucketBounds[i] })
}

// HistogramPercentile estimates the q-quantile (0 < q ≤ 1) of the
// durations counted in buckets (indexed as DurationBucket), in
// milliseconds: the geometric middle of the bucket holding it; 0 when
// the histogram is empty.
func HistogramPercentile(buckets []int64, q float64) float64 {
	var n int64
	for _, c := range buckets {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range buckets {
		seen += c
		if seen < rank {
			continue
		}
		var lo, hi float64
		switch {
		case i == 0:
			return float64(DurationBucketBounds[0]) / 2 / 1e6
		case i >= len(DurationBucketBounds):
			return float64(DurationBucketBounds[len(DurationBucketBounds)-1]) / 1e6
		default:
			lo, hi = float64(DurationBucketBounds[i-1]), float64(DurationBucketBounds[i])
		}
		return math.Sqrt(lo*hi) / 1e6
	}
	return 0
}

// histogramPercentile is HistogramPercentile for a histogram of weights
// (a share of minutes).
func histogramPercentile(buckets []float64, q float64) float64 {
	var n float64
	for _, c := range buckets {
		n += c
	}
	if n <= 0 {
		return 0
	}
	rank := max(q*n, 1e-9)
	var seen float64
	for i, c := range buckets {
		seen += c
		if seen+1e-9 < rank {
			continue
		}
		switch {
		case i == 0:
			return float64(DurationBucketBounds[0]) / 2 / 1e6
		case i >= len(DurationBucketBounds):
			return float64(DurationBucketBounds[len(DurationBucketBounds)-1]) / 1e6
		}
		return math.Sqrt(float64(DurationBucketBounds[i-1])*float64(DurationBucketBounds[i])) / 1e6
	}
	return 0
}

// InvocationMinute is the aggregate of one function's runs that started
// in one minute.
type InvocationMinute struct {
	Function string
	Minute   time.Time // UTC, truncated to the minute
	Calls    int64
	Errors   int64
	// DurationSum is the sum of the runs' durations.
	DurationSum time.Duration
	// Buckets is the duration histogram (DurationBucket).
	Buckets [DurationBuckets]int64
}

// minuteKey identifies one aggregate row.
type minuteKey struct {
	function string
	minute   int64 // Unix minutes
}

// minuteAggregates counts runs per function and minute in memory until
// the writer takes them. Safe for concurrent use.
type minuteAggregates struct {
	mu   sync.Mutex
	rows map[minuteKey]*InvocationMinute
}

// add counts one run and reports whether it is the first since the last
// take (the writer must be woken).
func (a *minuteAggregates) add(function string, at time.Time, d time.Duration, failed bool) (first bool) {
	k := minuteKey{function: function, minute: at.Unix() / 60}
	b := DurationBucket(d)
	a.mu.Lock()
	if a.rows == nil {
		a.rows = make(map[minuteKey]*InvocationMinute)
	}
	first = len(a.rows) == 0
	r := a.rows[k]
	if r == nil {
		r = &InvocationMinute{Function: function, Minute: time.Unix(k.minute*60, 0).UTC()}
		a.rows[k] = r
	}
	r.Calls++
	if failed {
		r.Errors++
	}
	r.DurationSum += d
	r.Buckets[b]++
	a.mu.Unlock()
	return first
}

// take returns what was counted since the last take and starts afresh.
func (a *minuteAggregates) take() []*InvocationMinute {
	a.mu.Lock()
	rows := a.rows
	a.rows = nil
	a.mu.Unlock()
	out := make([]*InvocationMinute, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	return out
}

// AddInvocationMinutes adds rows to the stored aggregates (one round trip):
// each is added to the row of its function and minute, created if new.
func (s *Store) AddInvocationMinutes(ctx context.Context, rows []*InvocationMinute) error {
	if len(rows) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range rows {
		// Trailing empty buckets are not stored.
		n := len(r.Buckets)
		for n > 0 && r.Buckets[n-1] == 0 {
			n--
		}
		b.Queue(`INSERT INTO invocation_minutes AS m (function, minute, calls, errors, duration_us_sum, buckets)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (function, minute) DO UPDATE SET
				calls = m.calls + EXCLUDED.calls,
				errors = m.errors + EXCLUDED.errors,
				duration_us_sum = m.duration_us_sum + EXCLUDED.duration_us_sum,
				buckets = ARRAY(SELECT COALESCE(x, 0) + COALESCE(y, 0)
					FROM unnest(m.buckets, EXCLUDED.buckets) WITH ORDINALITY AS u(x, y, i) ORDER BY i)`,
			r.Function, r.Minute, r.Calls, r.Errors, r.DurationSum.Microseconds(), r.Buckets[:n])
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return interpretError(err, fmt.Sprintf("add %d invocation aggregates", len(rows)))
	}
	return nil
}
