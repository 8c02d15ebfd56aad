package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InvocationsChannel is the channel a notification goes to whenever
// invocation records are written (schema/020_invocation_notify.sql): its
// payload is the functions written, one per line, or "*" for many. The
// dashboard's live tail listens to it.
const InvocationsChannel = "picloud_invocations"

// SeriesPoint is one slice of an invocation series: the calls that ended
// in it, how many failed, and their duration percentiles.
type SeriesPoint struct {
	At     time.Time // start of the slice
	Calls  int64
	Errors int64
	P50MS  float64
	P99MS  float64
}

// SeriesQuery asks for a function's calls between Since and Until cut in
// Buckets equal slices.
type SeriesQuery struct {
	Function     string
	Since, Until time.Time
	Buckets      int
}

// MaxSeriesBuckets bounds a series.
const MaxSeriesBuckets = 240

// InvocationSeries returns q's series, one point per slice (empty slices
// included), oldest first: rate, errors and latency for the dashboard's
// charts, from one query over the (function, id) index (UUIDv7 ids bound
// the window). It is the one place the charts read: when successful calls
// are kept as per-minute aggregates instead of rows, only this query
// changes.
func (s *Store) InvocationSeries(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	if q.Buckets <= 0 || q.Buckets > MaxSeriesBuckets || !q.Until.After(q.Since) {
		return nil, fmt.Errorf("invocation series: %d slices from %s to %s: %w", q.Buckets, q.Since, q.Until, ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `SELECT width_bucket(extract(epoch FROM created_at)::float8, $3::float8, $4::float8, $5::int) AS k,
			count(*), count(*) FILTER (WHERE status = 'failed'),
			COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_us) / 1000.0, 0),
			COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us) / 1000.0, 0)
		FROM invocations
		WHERE function = $1 AND id >= $2 AND status IN ('succeeded', 'failed')
		GROUP BY 1 ORDER BY 1`, q.Function, uuidAt(q.Since),
		float64(q.Since.UnixMicro())/1e6, float64(q.Until.UnixMicro())/1e6, q.Buckets)
	if err != nil {
		return nil, interpretError(err, "invocation series")
	}
	defer rows.Close()
	step := q.Until.Sub(q.Since) / time.Duration(q.Buckets)
	out := make([]SeriesPoint, q.Buckets)
	for i := range out {
		out[i].At = q.Since.Add(time.Duration(i) * step)
	}
	for rows.Next() {
		var k int32
		var p SeriesPoint
		if err := rows.Scan(&k, &p.Calls, &p.Errors, &p.P50MS, &p.P99MS); err != nil {
			return nil, interpretError(err, "scan invocation series")
		}
		if k < 1 || int(k) > q.Buckets {
			continue // created outside the window (ids and clocks differ by a little)
		}
		p.At = out[k-1].At
		out[k-1] = p
	}
	return out, interpretError(rows.Err(), "invocation series")
}

// ScheduleRun is one run of a scheduled function.
type ScheduleRun struct {
	ID        string
	Status    string
	Error     string
	StartedAt time.Time
	Duration  time.Duration
}

// MaxScheduleRuns bounds the runs ScheduleRuns returns per function.
const MaxScheduleRuns = 20

// ScheduleRuns returns the last n cron runs of each function named (at
// most MaxScheduleRuns), newest first, in one query: each function's
// newest cron invocations by the (function, id) index.
func (s *Store) ScheduleRuns(ctx context.Context, fns []string, n int) (map[string][]ScheduleRun, error) {
	out := make(map[string][]ScheduleRun, len(fns))
	if len(fns) == 0 {
		return out, nil
	}
	n = min(max(n, 1), MaxScheduleRuns)
	rows, err := s.pool.Query(ctx, `SELECT f.name, r.id::text, r.status, r.error, COALESCE(r.started_at, r.created_at), r.duration_us
		FROM unnest($1::text[]) AS f(name) CROSS JOIN LATERAL (
			SELECT i.id, i.status, i.error, i.started_at, i.created_at, i.duration_us FROM invocations i
			WHERE i.function = f.name AND i.trigger = 'cron' ORDER BY i.id DESC LIMIT $2
		) r ORDER BY f.name, r.id DESC`, fns, n)
	if err != nil {
		return nil, interpretError(err, "schedule runs")
	}
	var name string
	var r ScheduleRun
	var durationUS int64
	_, err = pgx.ForEachRow(rows, []any{&name, &r.ID, &r.Status, &r.Error, &r.StartedAt, &durationUS}, func() error {
		r.Duration = time.Duration(durationUS) * time.Microsecond
		out[name] = append(out[name], r)
		return nil
	})
	if err != nil {
		return nil, interpretError(err, "schedule runs")
	}
	return out, nil
}

// InvocationIDAt is the smallest invocation id of the millisecond t: ids
// of invocations created at or after t compare greater or equal (a
// cursor for a tail that starts now).
func InvocationIDAt(t time.Time) string { return uuidAt(t).String() }
