// Package invoke is the one path that runs a function and records what
// happened, for every trigger: a synchronous HTTP call, an asynchronous
// invocation, an event delivery, a cron tick and a dead-letter delivery.
//
// Call runs the function through the supervisor and turns the answer or
// the failure into a functions.Outcome and an invocation record (logs, the
// Lua traceback, the emitted events, "a failed run publishes nothing").
// Record then stores it: through the batched writer when nothing else must
// commit with it, or in one transaction with the events it emitted and
// whatever the trigger must commit alongside (an async job's completion).
// Both observe the outcome for metrics exactly once.
package invoke

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// Runner runs one call of a function version: the supervisor.
type Runner interface {
	Invoke(ctx context.Context, fn functions.Spec, req *protocol.Request) (*protocol.Response, error)
}

// Functions looks a function up by name with its current version's
// source: the store's FunctionCache. Not found is store.ErrNotFound.
type Functions interface {
	Get(ctx context.Context, name string) (*store.Function, error)
}

// Writer takes a record off the request path without blocking; false means
// it was dropped (the store's InvocationWriter).
type Writer interface {
	Add(inv functions.Invocation) bool
}

// Committer stores a record in one transaction with the events the run
// emitted and then(tx), when not nil (the events service). hop is the
// run's Result.Hop: the emitted events are one hop further. CheckEvents
// says, before anything is stored, whether emitted events can be
// published (topic, JSON payload, size): an error is the handler's
// failure.
type Committer interface {
	CheckEvents(function string, emitted []protocol.Event) error
	Commit(ctx context.Context, rec functions.Invocation, emitted []protocol.Event, hop int, then func(*store.Tx) error) error
}

// Counter counts every recorded run in the per-function, per-minute
// aggregates, without blocking (the store's InvocationWriter).
type Counter interface {
	Count(function string, at time.Time, d time.Duration, failed bool)
}

// Observer is told the outcome of every run once (metrics).
type Observer interface {
	ObserveInvocation(function, trigger string, outcome functions.Outcome, d time.Duration)
}

// Config are an Invoker's parts. Functions and Runner are required.
type Config struct {
	Functions Functions
	Runner    Runner
	// Writer takes records of runs that commit nothing else; nil means
	// Committer at once.
	Writer Writer
	// Committer stores records with emitted events; nil drops emitted
	// events with a warning (a server without the events service).
	Committer Committer
	Observer  Observer
	// Counter counts every recorded run, kept or not; nil counts none.
	Counter Counter
	// Policy decides which runs keep a full record; the zero value
	// keeps all.
	Policy RecordPolicy
	Logger hclog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Invoker runs functions for every trigger. It is safe for concurrent use.
type Invoker struct {
	cfg Config
	log hclog.Logger
}

// New returns an Invoker.
func New(cfg Config) (*Invoker, error) {
	if cfg.Functions == nil || cfg.Runner == nil {
		return nil, errors.New("invoke: Config.Functions and Config.Runner are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Invoker{cfg: cfg, log: cfg.Logger.Named("invoke")}, nil
}

// SetCommitter installs the events service once it exists: it is built
// with this Invoker, so it cannot be given to New. Call before serving.
func (iv *Invoker) SetCommitter(c Committer) { iv.cfg.Committer = c }

// Result is one run of a function: its outcome, its record, and the
// handler's answer when there is one.
type Result struct {
	// Outcome says how the run ended.
	Outcome functions.Outcome
	// Record is the invocation record to store.
	Record functions.Invocation
	// Response is the handler's answer; nil when the call failed before one.
	Response *protocol.Response
	// Err is the failure for the user (nil when Outcome is OutcomeOK):
	// the supervisor's *supervisor.InvokeError, one of its sentinels, or a
	// plain error saying what went wrong.
	Err error
	// Emitted are the events to publish with the record: the handler's,
	// only when the run succeeded.
	Emitted []protocol.Event
	// Hop is the run's place in a chain of events: 0 for a direct call
	// (HTTP, cron, a publish through the API), h+1 for a delivery of an
	// event emitted by a run at hop h. The trigger sets it before Record;
	// it bounds event loops (events.MaxHops).
	Hop int
	// KeepRecord keeps the record whatever the RecordPolicy (a call
	// whose caller reads its record: picloud invoke, the dashboard).
	KeepRecord bool

	observed bool // the Observer was told
	counted  bool // the Counter was told
}

// Lookup runs CallFunction on the current version of the function named.
func (iv *Invoker) Lookup(ctx context.Context, name string, req *protocol.Request) Result {
	fn, err := iv.cfg.Functions.Get(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return iv.unrecorded(name, req, functions.OutcomeGone, fmt.Errorf("function %s does not exist", name))
	case err != nil:
		return iv.unrecorded(name, req, functions.OutcomeUnavailable, fmt.Errorf("look up function %s: %w", name, err))
	}
	return iv.Call(ctx, fn, req)
}

// Call runs fn's current version with req and returns what happened. A
// run whose outcome is Retryable or Gone is observed here and must not
// be recorded; every other result must go to Record.
func (iv *Invoker) Call(ctx context.Context, fn *store.Function, req *protocol.Request) Result {
	start := iv.cfg.Now()
	resp, err := iv.cfg.Runner.Invoke(ctx, fn.Spec(), req)
	if errors.Is(err, supervisor.ErrRemoved) {
		// The pool went away while the call waited in its queue (a
		// delete, or a rollback replacing it): run the current version
		// if the function still exists.
		if cur, gerr := iv.cfg.Functions.Get(ctx, fn.Name); gerr == nil {
			fn = cur
			resp, err = iv.cfg.Runner.Invoke(ctx, fn.Spec(), req)
		}
	}
	res := Result{Response: resp, Err: err, Record: functions.Invocation{
		ID: req.InvocationID, Function: fn.Name, Version: fn.CurrentVersion, Trigger: req.Trigger,
		Method: req.Method, Path: req.Path, StartedAt: start, Duration: iv.cfg.Now().Sub(start),
	}}
	res.Outcome = outcomeOf(ctx, resp, err)
	if err == nil && res.Outcome == functions.OutcomeError {
		res.Err = fmt.Errorf("handler returned status %d", resp.Status)
	}
	iv.fill(&res)
	if res.Outcome.Retryable() || res.Outcome == functions.OutcomeGone {
		iv.observe(&res)
	}
	return res
}

// outcomeOf classifies a call's answer or failure.
func outcomeOf(ctx context.Context, resp *protocol.Response, err error) functions.Outcome {
	var ie *supervisor.InvokeError
	switch {
	case err == nil && resp == nil:
		return functions.OutcomeError
	case err == nil && resp.Status >= 500:
		return functions.OutcomeError
	case err == nil:
		return functions.OutcomeOK
	case errors.Is(err, supervisor.ErrOverloaded):
		return functions.OutcomeOverloaded
	case errors.Is(err, supervisor.ErrStopped), errors.Is(err, supervisor.ErrNotStarted):
		return functions.OutcomeUnavailable
	case errors.Is(err, supervisor.ErrRemoved):
		return functions.OutcomeGone
	case errors.As(err, &ie):
		switch ie.Kind {
		case supervisor.KindScript:
			return functions.OutcomeError
		case supervisor.KindTimeout:
			return functions.OutcomeTimeout
		case supervisor.KindMemory:
			return functions.OutcomeMemory
		default:
			return functions.OutcomeCrash
		}
	case ctx.Err() != nil:
		return functions.OutcomeCanceled
	}
	return functions.OutcomeCrash
}

// fill completes res.Record from the outcome and the answer.
func (iv *Invoker) fill(res *Result) {
	rec, resp := &res.Record, res.Response
	if resp == nil && res.Err == nil {
		res.Err = errors.New("handler returned no response")
	}
	answered := 0
	if resp != nil {
		answered = resp.Status
		rec.Logs = resp.Logs
		rec.LogsDropped = resp.LogsDropped
		rec.Result = resp.Body // queued runs show their result (the API clears it for sync calls)
	}
	rec.HTTPStatus = res.Outcome.HTTPStatus(answered)
	var ie *supervisor.InvokeError
	if errors.As(res.Err, &ie) {
		if resp == nil {
			rec.Logs, rec.LogsDropped = ie.Logs, ie.LogsDropped
		}
		if ie.Traceback != "" {
			rec.Logs = append(rec.Logs, protocol.LogEntry{Time: iv.cfg.Now(), Level: "error", Message: ie.Traceback})
		}
	}
	if !res.Outcome.Failed() {
		rec.Status = functions.StatusSucceeded
		res.Emitted = resp.Events
		return
	}
	rec.Status = functions.StatusFailed
	rec.Error = res.Err.Error()
	if resp != nil && len(resp.Events) > 0 {
		// A failed run publishes nothing, whatever its trigger.
		rec.Logs = append(rec.Logs, protocol.LogEntry{Time: iv.cfg.Now(), Level: "warn",
			Message: fmt.Sprintf("%d emitted events not published: %s", len(resp.Events), res.Err)})
	}
}

// unrecorded is the result of a run that never reached the function.
func (iv *Invoker) unrecorded(name string, req *protocol.Request, o functions.Outcome, err error) Result {
	res := Result{Outcome: o, Err: err, Record: functions.Invocation{
		ID: req.InvocationID, Function: name, Trigger: req.Trigger, Method: req.Method, Path: req.Path,
		Status: functions.StatusFailed, Error: err.Error(), HTTPStatus: o.HTTPStatus(0),
		StartedAt: iv.cfg.Now(),
	}}
	iv.observe(&res)
	return res
}

// recordTimeout bounds storing a record with its events; the caller going
// away does not cancel it (the handler already ran).
const recordTimeout = 30 * time.Second

// Record stores res's record: in one transaction with its emitted events
// and then(tx) when either is present, else through the Writer. Emitted
// events that cannot be published turn the run into a failure (the record
// says why; nothing is published). A non-nil error means nothing was
// committed (then the record went to the Writer as a failure, so the call
// is not lost from the logs); res is updated to what was stored either way.
//
// A successful, silent synchronous run that the RecordPolicy does not keep
// stores no record; every run Record sees is counted (Counter).
func (iv *Invoker) Record(ctx context.Context, res *Result, then func(*store.Tx) error) error {
	defer iv.observe(res)
	defer iv.count(res)
	// A run that emitted events is stored at once, published or not, so
	// its caller can read the record as soon as it has the answer.
	emitted := len(res.Emitted) > 0
	if emitted {
		if iv.cfg.Committer == nil {
			iv.log.Warn("events emitted by a call dropped: no events service",
				"function", res.Record.Function, "invocation_id", res.Record.ID, "events", len(res.Emitted))
			res.Emitted = nil
		} else if err := iv.cfg.Committer.CheckEvents(res.Record.Function, res.Emitted); err != nil {
			res.Outcome, res.Err, res.Emitted = functions.OutcomeError, err, nil
			res.Record.Status, res.Record.Error = functions.StatusFailed, err.Error()
			res.Record.HTTPStatus = functions.OutcomeError.HTTPStatus(0)
		}
	}
	if !emitted && then == nil {
		if !res.KeepRecord && !iv.cfg.Policy.keeps(&res.Record) {
			return nil
		}
		// Counted before the record is handed over: the writer adds the
		// counts before the records of a flush, so a record one can read
		// is in the aggregates too.
		iv.count(res)
		if iv.cfg.Writer != nil && iv.cfg.Writer.Add(res.Record) {
			return nil
		}
		if iv.cfg.Committer == nil {
			return nil // dropped and counted by the writer
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	err := iv.cfg.Committer.Commit(ctx, res.Record, res.Emitted, res.Hop, then)
	if err == nil || then != nil {
		return err
	}
	// Nothing committed: keep a failed record through the writer.
	n := len(res.Emitted)
	res.Outcome, res.Emitted = functions.OutcomeCrash, nil
	res.Err = fmt.Errorf("record invocation %s of %s with %d emitted events: %w", res.Record.ID, res.Record.Function, n, err)
	res.Record.Status, res.Record.Error = functions.StatusFailed, "record the invocation and publish its events: "+err.Error()
	if iv.cfg.Writer != nil {
		iv.cfg.Writer.Add(res.Record)
	}
	return res.Err
}

func (iv *Invoker) count(res *Result) {
	if res.counted {
		return
	}
	res.counted = true
	if iv.cfg.Counter != nil {
		iv.cfg.Counter.Count(res.Record.Function, res.Record.StartedAt, res.Record.Duration,
			res.Record.Status != functions.StatusSucceeded)
	}
}

func (iv *Invoker) observe(res *Result) {
	if res.observed {
		return
	}
	res.observed = true
	if iv.cfg.Observer != nil {
		iv.cfg.Observer.ObserveInvocation(res.Record.Function, res.Record.Trigger, res.Outcome, res.Record.Duration)
	}
}
