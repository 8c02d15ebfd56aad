package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/picloud/picloud/store"
)

// StatsPoint is one slice of a function's chart.
type StatsPoint struct {
	At     time.Time `json:"at"`
	Calls  int64     `json:"calls"`
	Errors int64     `json:"errors"`
	P50MS  float64   `json:"p50_ms"`
	P99MS  float64   `json:"p99_ms"`
}

// Stats is the body of GET /ui/stats: a function's calls per slice.
type Stats struct {
	Function string       `json:"function"`
	Since    time.Time    `json:"since"`
	Until    time.Time    `json:"until"`
	StepS    float64      `json:"step_seconds"`
	Points   []StatsPoint `json:"points"`
}

// statsRanges are the windows the charts offer, each cut in 60 slices.
var statsRanges = map[string]time.Duration{"15m": 15 * time.Minute, "1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour}

const statsBuckets = 60

// stats is GET /ui/stats?function=NAME&range=1h: the function's calls,
// errors, p50 and p99 per slice of the range, for the rate, error and
// latency charts. Query budget: one (store.InvocationSeries), whatever the
// number of calls: the browser gets 60 points, never a row per call.
func (u *uiHandler) stats(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	name := q.Get("function")
	if err := validName("function name", name); err != nil {
		return err
	}
	rg := q.Get("range")
	if rg == "" {
		rg = "1h"
	}
	d, ok := statsRanges[rg]
	if !ok {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "range",
			Message: fmt.Sprintf("range %q is unknown: use 15m, 1h, 6h or 24h", truncate(rg, 20))}
	}
	until := u.now().Truncate(d / statsBuckets).Add(d / statsBuckets)
	since := until.Add(-d)
	pts, err := u.api.deps.Store.InvocationSeries(r.Context(), store.SeriesQuery{Function: name, Since: since, Until: until, Buckets: statsBuckets})
	if err != nil {
		return internalError(err)
	}
	out := Stats{Function: name, Since: since, Until: until, StepS: (d / statsBuckets).Seconds(), Points: make([]StatsPoint, len(pts))}
	for i, p := range pts {
		out.Points[i] = StatsPoint{At: p.At, Calls: p.Calls, Errors: p.Errors, P50MS: p.P50MS, P99MS: p.P99MS}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ScheduleRunView is one run in GET /ui/schedule-runs.
type ScheduleRunView struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
}

// ScheduleRuns is the body of GET /ui/schedule-runs: by function, its last
// cron runs, newest first.
type ScheduleRuns struct {
	Runs map[string][]ScheduleRunView `json:"runs"`
}

// scheduleRunsShown is how many runs the schedules page shows per function.
const scheduleRunsShown = 5

// scheduleRuns is GET /ui/schedule-runs?function=A&function=B: the last
// five cron runs of each, with their outcome. Query budget: one.
func (u *uiHandler) scheduleRuns(w http.ResponseWriter, r *http.Request) error {
	fns := r.URL.Query()["function"]
	if len(fns) > 500 {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "function",
			Message: "too many functions: ask for at most 500"}
	}
	for _, f := range fns {
		if err := validName("function name", f); err != nil {
			return err
		}
	}
	runs, err := u.api.deps.Store.ScheduleRuns(r.Context(), fns, scheduleRunsShown)
	if err != nil {
		return internalError(err)
	}
	out := ScheduleRuns{Runs: make(map[string][]ScheduleRunView, len(runs))}
	for fn, rs := range runs {
		for _, x := range rs {
			out.Runs[fn] = append(out.Runs[fn], ScheduleRunView{ID: x.ID, Status: x.Status, Error: x.Error,
				StartedAt: x.StartedAt, DurationMS: durationMS(x.Duration)})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
