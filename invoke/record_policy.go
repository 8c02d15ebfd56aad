package invoke

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// RecordMode says which runs of synchronous HTTP calls keep a full
// invocation record (picloud serve --record-calls).
type RecordMode string

// Record modes. Whatever the mode, failures, runs that logged, and async,
// event, cron and dead-letter runs always keep their record, and every run
// is counted in the per-minute aggregates.
const (
	// RecordAll keeps a record of every run.
	RecordAll RecordMode = "all"
	// RecordSampled keeps a record of a fraction (RecordPolicy.Sample) of
	// the successful, silent synchronous calls.
	RecordSampled RecordMode = "sampled"
	// RecordFailures keeps none of the successful, silent synchronous
	// calls.
	RecordFailures RecordMode = "failures"
)

// DefaultRecordSample is the fraction of successful, silent synchronous
// calls recorded in RecordSampled mode by default.
const DefaultRecordSample = 0.01

// RecordPolicy decides which runs keep a full invocation record. The zero
// value records every run (RecordAll).
type RecordPolicy struct {
	Mode RecordMode
	// Sample is the fraction (0 to 1) of successful, silent synchronous
	// calls recorded in RecordSampled mode.
	Sample float64
}

// ParseRecordPolicy checks a mode and a sample fraction as given on the
// command line.
func ParseRecordPolicy(mode string, sample float64) (RecordPolicy, error) {
	m := RecordMode(strings.ToLower(strings.TrimSpace(mode)))
	switch m {
	case RecordAll, RecordSampled, RecordFailures:
	default:
		return RecordPolicy{}, fmt.Errorf("record mode %q is unknown: use all, sampled or failures", mode)
	}
	if !(sample >= 0 && sample <= 1) {
		return RecordPolicy{}, fmt.Errorf("record sample %v is out of range: use a fraction from 0 to 1 (0.01 keeps 1 call in 100)", sample)
	}
	return RecordPolicy{Mode: m, Sample: sample}, nil
}

// String is how the policy reads in logs.
func (p RecordPolicy) String() string {
	if p.Mode == RecordSampled {
		return fmt.Sprintf("sampled %g", p.Sample)
	}
	if p.Mode == "" {
		return string(RecordAll)
	}
	return string(p.Mode)
}

// keeps reports whether rec, a run stored without events or a trigger's
// own step, keeps its full record.
func (p RecordPolicy) keeps(rec *functions.Invocation) bool {
	switch {
	case p.Mode == "" || p.Mode == RecordAll:
		return true
	case rec.Status != functions.StatusSucceeded:
		return true
	case len(rec.Logs) > 0 || rec.LogsDropped > 0:
		return true
	case rec.Trigger != protocol.TriggerHTTP:
		return true
	case p.Mode == RecordSampled:
		return p.Sample > 0 && rand.Float64() < p.Sample
	}
	return false
}
