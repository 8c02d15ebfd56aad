package supervisor

import "context"

// StartReport says how Invoke served a call: Cold when the call was the
// first of its worker (started, or specialised from a spare, for it; a
// min_warm worker's first call counts too), warm when it reused one.
type StartReport struct {
	// Known is set once Invoke had a worker for the call.
	Known bool
	Cold  bool
}

type startReportKey struct{}

// WithStartReport returns a context whose Invoke fills the returned
// report (read it after Invoke returns). The invoke console uses it to
// show cold or warm.
func WithStartReport(ctx context.Context) (context.Context, *StartReport) {
	r := &StartReport{}
	return context.WithValue(ctx, startReportKey{}, r), r
}

// reportStart fills ctx's report, if it has one.
func reportStart(ctx context.Context, cold bool) {
	if r, ok := ctx.Value(startReportKey{}).(*StartReport); ok {
		r.Known, r.Cold = true, cold
	}
}

// StartReportFrom returns ctx's report (WithStartReport), or nil.
func StartReportFrom(ctx context.Context) *StartReport {
	r, _ := ctx.Value(startReportKey{}).(*StartReport)
	return r
}
