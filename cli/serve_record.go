package cli

import (
	"strconv"

	"github.com/picloud/picloud/invoke"
)

// Float defines a float flag whose default comes from env.
func (e *envFlags) Float(p *float64, name, env string, def float64, usage string) {
	*p = def
	if v := e.a.env.Getenv(env); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		e.note(env, v, err)
		*p = f
	}
	e.fs.Float64Var(p, name, *p, usage+" (env "+env+")")
}

// recordFlags are picloud serve's record policy flags.
type recordFlags struct {
	mode   string
	sample float64
}

// defineRecordFlags defines --record-calls and --record-sample.
func defineRecordFlags(ef *envFlags) *recordFlags {
	r := &recordFlags{}
	ef.String(&r.mode, "record-calls", "PICLOUD_RECORD_CALLS", string(invoke.RecordSampled),
		"which successful, silent HTTP calls keep a full invocation record (picloud logs): `MODE` all, sampled (--record-sample of them) or failures (none); "+
			"failures, calls that logged, async, event, cron and dead-letter runs always keep theirs, and every call is counted in the per-minute figures")
	ef.Float(&r.sample, "record-sample", "PICLOUD_RECORD_SAMPLE", invoke.DefaultRecordSample,
		"the `FRACTION` (0 to 1) of successful, silent HTTP calls recorded with --record-calls sampled")
	return r
}

// policy checks the flags.
func (r *recordFlags) policy() (invoke.RecordPolicy, error) {
	return invoke.ParseRecordPolicy(r.mode, r.sample)
}
