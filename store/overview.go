package store

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/google/uuid"
)

// FunctionStats is one function with its calls over a recent window.
type FunctionStats struct {
	Name      string
	Version   int
	Private   bool
	UpdatedAt time.Time
	Calls     int64
	Errors    int64
	// P50MS and P99MS are the duration percentiles of finished calls, in
	// milliseconds (0 without calls).
	P50MS float64
	P99MS float64
	// Buckets counts the calls in SparkBuckets equal slices of the window,
	// oldest first (a sparkline).
	Buckets []int64
}

// SparkBuckets is how many slices FunctionOverview cuts its window into.
const SparkBuckets = 12

// Overview is the dashboard's first page: functions with their recent
// figures, and the dead letters waiting.
type Overview struct {
	Functions   []FunctionStats
	DeadLetters int64
}

// MaxOverviewFunctions bounds one overview page.
const MaxOverviewFunctions = 200

// FunctionOverview returns up to limit functions named after `after`, in
// name order, each with its calls, errors, duration percentiles and calls
// per slice of the window from `since` to `now`, and the number of dead
// letters: one query. The figures come from the per-minute aggregates
// (invocation_minutes), which count every run whatever the record policy;
// the window starts at the minute holding since. Percentiles are read
// from the summed duration histograms (HistogramPercentile: within ≈10 %).
func (s *Store) FunctionOverview(ctx context.Context, after string, limit int, since, now time.Time) (*Overview, error) {
	if limit <= 0 || limit > MaxOverviewFunctions {
		limit = MaxOverviewFunctions
	}
	rows, err := s.pool.Query(ctx, `WITH page AS (
			SELECT f.name, COALESCE(f.current_version, 0) AS version, f.private, f.updated_at
			FROM functions f WHERE f.name > $1 ORDER BY f.name LIMIT $2
		)
		SELECT p.name, p.version, p.private, p.updated_at,
			COALESCE(st.calls, 0), COALESCE(st.errors, 0),
			COALESCE(h.hi, '{}'), COALESCE(h.hn, '{}'),
			COALESCE(sp.bk, '{}'), COALESCE(sp.bn, '{}'),
			(SELECT count(*) FROM dead_letters)
		FROM page p LEFT JOIN LATERAL (
			SELECT sum(m.calls)::bigint AS calls, sum(m.errors)::bigint AS errors
			FROM invocation_minutes m
			WHERE m.function = p.name AND m.minute >= $3
		) st ON true LEFT JOIN LATERAL (
			SELECT array_agg(u.i::int ORDER BY u.i) AS hi, array_agg(u.n ORDER BY u.i) AS hn
			FROM (
				SELECT b.i, sum(b.n)::bigint AS n
				FROM invocation_minutes m, unnest(m.buckets) WITH ORDINALITY AS b(n, i)
				WHERE m.function = p.name AND m.minute >= $3
				GROUP BY b.i
			) u
		) h ON true LEFT JOIN LATERAL (
			SELECT array_agg(b.k ORDER BY b.k) AS bk, array_agg(b.n ORDER BY b.k) AS bn
			FROM (
				SELECT width_bucket(extract(epoch FROM m.minute)::float8, $4::float8, $5::float8, $6::int) AS k, sum(m.calls)::bigint AS n
				FROM invocation_minutes m
				WHERE m.function = p.name AND m.minute >= $3
				GROUP BY 1
			) b
		) sp ON true
		ORDER BY p.name`, after, limit, since.Truncate(time.Minute),
		float64(since.UnixMicro())/1e6, float64(now.UnixMicro())/1e6, SparkBuckets)
	if err != nil {
		return nil, interpretError(err, "function overview")
	}
	defer rows.Close()
	out := &Overview{Functions: []FunctionStats{}}
	for rows.Next() {
		var f FunctionStats
		var keys, hi []int32
		var counts, hn []int64
		if err := rows.Scan(&f.Name, &f.Version, &f.Private, &f.UpdatedAt, &f.Calls, &f.Errors,
			&hi, &hn, &keys, &counts, &out.DeadLetters); err != nil {
			return nil, interpretError(err, "scan function overview")
		}
		var hist [DurationBuckets]int64
		for j, i := range hi {
			if i >= 1 && int(i) <= DurationBuckets {
				hist[i-1] = hn[j]
			}
		}
		f.P50MS, f.P99MS = HistogramPercentile(hist[:], 0.5), HistogramPercentile(hist[:], 0.99)
		f.Buckets = make([]int64, SparkBuckets)
		for i, k := range keys {
			// width_bucket answers 1..n inside the window, 0 or n+1 outside.
			f.Buckets[min(max(int(k), 1), SparkBuckets)-1] += counts[i]
		}
		out.Functions = append(out.Functions, f)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "function overview")
	}
	if len(out.Functions) == 0 {
		// No function on this page: the count still comes from one query.
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&out.DeadLetters); err != nil {
			return nil, interpretError(err, "count dead letters")
		}
	}
	return out, nil
}

// uuidAt is the smallest UUIDv7 of the millisecond t: ids at or after t
// compare greater or equal.
func uuidAt(t time.Time) uuid.UUID {
	var u uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[0:6], ms[2:8])
	u[6] = 0x70
	u[8] = 0x80
	return u
}
