package store

import (
	"context"
	"fmt"
	"math"
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
// charts, from one query over the per-minute aggregates
// (invocation_minutes, which count every run whatever the record policy):
// at most one row per minute of the window, never a row per call. The
// resolution is one minute: a slice of a minute or more holds the
// minutes starting in it; a shorter slice gets its share of each minute it
// overlaps (the counts of a minute are spread evenly over it, totals kept
// exact). Percentiles come from the summed histograms (≈10 %).
func (s *Store) InvocationSeries(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	if q.Buckets <= 0 || q.Buckets > MaxSeriesBuckets || !q.Until.After(q.Since) {
		return nil, fmt.Errorf("invocation series: %d slices from %s to %s: %w", q.Buckets, q.Since, q.Until, ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `SELECT minute, calls, errors, buckets FROM invocation_minutes
		WHERE function = $1 AND minute >= $2 AND minute < $3 ORDER BY minute`,
		q.Function, q.Since.Truncate(time.Minute), q.Until)
	if err != nil {
		return nil, interpretError(err, "invocation series")
	}
	defer rows.Close()
	step := q.Until.Sub(q.Since) / time.Duration(q.Buckets)
	out := make([]SeriesPoint, q.Buckets)
	hist := make([][DurationBuckets]float64, q.Buckets)
	calls := make([]float64, q.Buckets)
	errs := make([]float64, q.Buckets)
	for i := range out {
		out[i].At = q.Since.Add(time.Duration(i) * step)
	}
	for rows.Next() {
		var m time.Time
		var c, e int64
		var b []int64
		if err := rows.Scan(&m, &c, &e, &b); err != nil {
			return nil, interpretError(err, "scan invocation series")
		}
		for _, sh := range minuteShares(m, q.Since, step, q.Buckets) {
			calls[sh.slice] += sh.frac * float64(c)
			errs[sh.slice] += sh.frac * float64(e)
			for j, n := range b {
				if j < DurationBuckets {
					hist[sh.slice][j] += sh.frac * float64(n)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "invocation series")
	}
	// Round the running totals, so the slices add up to the exact counts.
	var cc, ce float64
	for i := range out {
		out[i].Calls = int64(math.Round(cc+calls[i]) - math.Round(cc))
		out[i].Errors = int64(math.Round(ce+errs[i]) - math.Round(ce))
		cc, ce = cc+calls[i], ce+errs[i]
		out[i].P50MS = histogramPercentile(hist[i][:], 0.5)
		out[i].P99MS = histogramPercentile(hist[i][:], 0.99)
	}
	return out, nil
}

// minuteShare is the part of one minute's counts a slice gets.
type minuteShare struct {
	slice int
	frac  float64
}

// minuteShares says which of n slices of width step from since get the
// counts of the minute starting at m: the one it starts in when slices
// are a minute or longer, else every slice it overlaps, by overlap.
func minuteShares(m, since time.Time, step time.Duration, n int) []minuteShare {
	if step >= time.Minute {
		i := int(m.Sub(since) / step)
		if m.Before(since) {
			i = 0 // the minute holding since
		}
		if i >= n {
			return nil
		}
		return []minuteShare{{slice: i, frac: 1}}
	}
	var out []minuteShare
	end := m.Add(time.Minute)
	for i := max(int(m.Sub(since)/step), 0); i < n; i++ {
		lo := since.Add(time.Duration(i) * step)
		hi := lo.Add(step)
		if !lo.Before(end) {
			break
		}
		ov := minTime(hi, end).Sub(maxTime(lo, m))
		if ov > 0 {
			out = append(out, minuteShare{slice: i, frac: float64(ov) / float64(time.Minute)})
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
