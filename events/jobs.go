package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// DeliveryArgs is the River job of one delivery: an event to a subscribed
// function, a cron tick, or a dead letter to a dead-letter trigger.
type DeliveryArgs struct {
	Function string `json:"function"`
	// Trigger is protocol.TriggerEvent, TriggerCron or TriggerDeadLetter.
	Trigger     string          `json:"trigger"`
	EventID     int64           `json:"event_id,omitempty"`
	Topic       string          `json:"topic,omitempty"`
	PublishedAt time.Time       `json:"published_at"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	// Event is req.event without "attempt" (added per attempt).
	Event json.RawMessage `json:"event"`
	// ScheduleID is set for cron ticks.
	ScheduleID int64 `json:"schedule_id,omitempty"`
	// Retries counts retries of this delivery from the dead-letter queue.
	Retries int `json:"retries,omitempty"`
}

// Kind is the River job kind.
func (DeliveryArgs) Kind() string { return "picloud_delivery" }

// InvokeArgs is the River job of an asynchronous invocation.
type InvokeArgs struct {
	InvocationID string           `json:"invocation_id"`
	Function     string           `json:"function"`
	Request      protocol.Request `json:"request"`
}

// Kind is the River job kind.
func (InvokeArgs) Kind() string { return "picloud_invoke" }

// backoff is the delay before the retry following attempt (1-based):
// RetryBase·2^(attempt-1) with ±25% jitter, capped at MaxRetryDelay.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxRetryDelay)
	jitter := time.Duration((rand.Float64() - 0.5) * 0.5 * float64(d))
	return max(d+jitter, time.Millisecond)
}

// callOutcome is the result of one call through the invoker.
type callOutcome struct {
	inv    functions.Invocation
	resp   *protocol.Response
	err    error // the failure shown to the user, nil on success
	busy   bool  // the pool was overloaded: try again later, not an attempt
	fnGone bool  // the function no longer exists
}

// call runs function with req and fills the invocation record.
func (s *Service) call(ctx context.Context, function string, req *protocol.Request) callOutcome {
	fn, err := s.cfg.Functions.Get(ctx, function)
	if errors.Is(err, store.ErrNotFound) {
		return callOutcome{fnGone: true, err: fmt.Errorf("function %s does not exist", function)}
	}
	if err != nil {
		return callOutcome{err: fmt.Errorf("look up function %s: %w", function, err), busy: true}
	}
	if s.cfg.Invoker == nil {
		return callOutcome{err: errors.New("no invoker configured"), busy: true}
	}
	start := s.cfg.Now()
	resp, err := s.cfg.Invoker.Invoke(ctx, fn.Spec(), req)
	out := callOutcome{resp: resp, inv: functions.Invocation{
		ID: req.InvocationID, Function: fn.Name, Version: fn.Current.Version, Trigger: req.Trigger,
		Method: req.Method, Path: req.Path, StartedAt: start, Duration: s.cfg.Now().Sub(start),
	}}
	if s.cfg.ObserveCall != nil {
		defer func() { s.cfg.ObserveCall(fn.Name, req.Trigger, out.inv.Duration, out.err) }()
	}
	if errors.Is(err, supervisor.ErrOverloaded) || errors.Is(err, supervisor.ErrStopped) {
		out.busy, out.err = true, err
		return out
	}
	if resp != nil {
		out.inv.HTTPStatus = resp.Status
		out.inv.Logs = resp.Logs
		out.inv.LogsDropped = resp.LogsDropped
		out.inv.Result = resp.Body
	}
	switch {
	case err != nil:
		out.err = err
		var ie *supervisor.InvokeError
		if errors.As(err, &ie) && ie.Traceback != "" {
			out.inv.Logs = append(out.inv.Logs, protocol.LogEntry{Time: s.cfg.Now(), Level: "error", Message: ie.Traceback})
		}
	case resp == nil:
		out.err = errors.New("handler returned no response")
	case resp.Status >= 500:
		out.err = fmt.Errorf("handler returned status %d", resp.Status)
	}
	if out.err != nil {
		out.inv.Status = functions.StatusFailed
		out.inv.Error = out.err.Error()
	} else {
		out.inv.Status = functions.StatusSucceeded
	}
	return out
}

// finishTx records a successful invocation together with the events it
// emitted and, when job is not nil, the completion of its job. Events that
// cannot be published (bad topic, bad JSON) turn the invocation into a
// failure, recorded without them; finishTx then returns that failure.
func finishTx[T river.JobArgs](ctx context.Context, s *Service, out *callOutcome, job *river.Job[T]) error {
	var emitted []protocol.Event
	if out.resp != nil {
		emitted = out.resp.Events
	}
	if _, err := emittedEvents(out.inv.Function, emitted); err != nil {
		out.err = err
		out.inv.Status = functions.StatusFailed
		out.inv.Error = err.Error()
		emitted = nil
	}
	return s.st.InTx(ctx, func(tx pgx.Tx) error {
		if err := s.st.FinishInvocationTx(ctx, tx, out.inv); err != nil {
			return err
		}
		if out.err == nil {
			if err := s.PublishTx(ctx, tx, out.inv.Function, emitted); err != nil {
				return err
			}
		}
		if job != nil {
			if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
				return fmt.Errorf("complete job %d: %w", job.ID, err)
			}
		}
		return nil
	})
}

// deliveryWorker works DeliveryArgs.
type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	s *Service
}

// NextRetry is exponential backoff with jitter from the server's base.
func (w *deliveryWorker) NextRetry(job *river.Job[DeliveryArgs]) time.Time {
	return w.s.cfg.Now().Add(w.s.backoff(job.Attempt))
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	s, a := w.s, job.Args
	s.runner.begin()
	defer s.runner.end()
	req := &protocol.Request{
		InvocationID: functions.NewInvocationID(),
		Method:       "POST",
		Path:         "/",
		Headers:      map[string]string{"content-type": "application/json"},
		Body:         a.Payload,
		Trigger:      a.Trigger,
		Event:        jsonObjectWith(a.Event, "attempt", job.Attempt),
	}
	out := s.call(ctx, a.Function, req)
	switch {
	case out.fnGone:
		s.log.Info("delivery dropped: function was deleted", "function", a.Function, "job_id", job.ID)
		return river.JobCancel(out.err)
	case out.busy:
		d := s.backoff(1)
		s.log.Debug("delivery postponed", "function", a.Function, "error", out.err, "retry_in", d.String())
		return river.JobSnooze(d)
	case out.err == nil && len(out.resp.Events) == 0:
		s.record(ctx, out.inv)
		return nil
	case out.err == nil:
		err := finishTx(ctx, s, &out, job)
		if err != nil || out.err == nil {
			return err
		}
		// Emitted events were invalid: a failed attempt like any other.
	}

	last := job.Attempt >= job.MaxAttempts
	if !last || a.Trigger == protocol.TriggerDeadLetter {
		s.record(ctx, out.inv)
		if last {
			s.log.Warn("dead-letter handler failed on its last attempt", "function", a.Function,
				"attempt", job.Attempt, "error", out.err)
		}
		return out.err
	}
	return s.deadLetter(ctx, job, out)
}

// record writes an invocation record through the recorder, or at once.
func (s *Service) record(ctx context.Context, inv functions.Invocation) {
	if s.cfg.Invocations != nil && s.cfg.Invocations.Add(inv) {
		return
	}
	if err := s.st.FinishInvocation(ctx, inv); err != nil {
		s.log.Error("record invocation", "function", inv.Function, "invocation_id", inv.ID, "error", err)
	}
}

// deadLetter records a delivery that failed its last attempt and queues the
// dead-letter triggers, in one transaction with the job's completion.
func (s *Service) deadLetter(ctx context.Context, job *river.Job[DeliveryArgs], out callOutcome) error {
	a := job.Args
	attempts := make([]store.Attempt, 0, len(job.Errors)+1)
	for _, e := range job.Errors {
		attempts = append(attempts, store.Attempt{Attempt: e.Attempt, At: e.At, Error: e.Error})
	}
	attempts = append(attempts, store.Attempt{Attempt: job.Attempt, At: s.cfg.Now().UTC(), Error: out.err.Error()})
	err := s.st.InTx(ctx, func(tx pgx.Tx) error {
		if err := s.st.FinishInvocationTx(ctx, tx, out.inv); err != nil {
			return err
		}
		dl, err := s.st.InsertDeadLetterTx(ctx, tx, store.DeadLetter{
			Function: a.Function, Trigger: a.Trigger, EventID: a.EventID, Topic: a.Topic,
			Payload: a.Payload, PublishedAt: a.PublishedAt, Attempts: attempts, Retries: a.Retries,
		})
		if err != nil {
			return err
		}
		if err := s.queueDeadLetterTx(ctx, tx, dl); err != nil {
			return err
		}
		if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
			return fmt.Errorf("complete job %d: %w", job.ID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record dead letter: %w", err)
	}
	s.log.Warn("delivery failed for good: dead letter recorded", "function", a.Function,
		"trigger", a.Trigger, "event_id", a.EventID, "attempts", job.Attempt, "error", out.err)
	return nil
}

// deadLetterView is req.event of a dead-letter delivery.
type deadLetterView struct {
	ID        int64           `json:"id"`
	Function  string          `json:"function"`
	Trigger   string          `json:"trigger"`
	Event     eventView       `json:"event"`
	Attempts  []store.Attempt `json:"attempts"`
	CreatedAt time.Time       `json:"created_at"`
}

// queueDeadLetterTx queues dl for every dead-letter trigger, inside tx.
func (s *Service) queueDeadLetterTx(ctx context.Context, tx pgx.Tx, dl store.DeadLetter) error {
	subs, err := s.st.SubscribersTx(ctx, tx, store.TriggerKindDeadLetters, nil)
	if err != nil || len(subs) == 0 {
		return err
	}
	view, err := json.Marshal(deadLetterView{
		ID: dl.ID, Function: dl.Function, Trigger: dl.Trigger,
		Event:    eventView{ID: dl.EventID, Topic: dl.Topic, Payload: dl.Payload, PublishedAt: dl.PublishedAt},
		Attempts: dl.Attempts, CreatedAt: dl.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("encode dead letter %d: %w", dl.ID, err)
	}
	params := make([]river.InsertManyParams, 0, len(subs))
	for _, sub := range subs {
		params = append(params, deliveryParams(DeliveryArgs{
			Function: sub.Function, Trigger: protocol.TriggerDeadLetter, EventID: dl.EventID,
			Topic: dl.Topic, PublishedAt: dl.PublishedAt, Payload: dl.Payload, Event: view,
		}, sub.MaxAttempts))
	}
	if _, err := s.river.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queue dead-letter triggers: %w", err)
	}
	return nil
}

// invokeWorker works InvokeArgs: one asynchronous invocation.
type invokeWorker struct {
	river.WorkerDefaults[InvokeArgs]
	s *Service
}

func (w *invokeWorker) Work(ctx context.Context, job *river.Job[InvokeArgs]) error {
	s, a := w.s, job.Args
	s.runner.begin()
	defer s.runner.end()
	req := a.Request
	req.InvocationID = a.InvocationID
	if err := s.st.MarkInvocationRunning(ctx, a.InvocationID, 0, s.cfg.Now()); err != nil {
		return err
	}
	out := s.call(ctx, a.Function, &req)
	switch {
	case out.busy:
		return river.JobSnooze(s.backoff(1))
	case out.fnGone:
		out.inv = functions.Invocation{ID: a.InvocationID, Function: a.Function, Trigger: req.Trigger,
			Method: req.Method, Path: req.Path, Status: functions.StatusFailed, Error: out.err.Error()}
	}
	// Success or failure, the invocation is done: a handler error is its
	// result, not a reason to run it again.
	return finishTx(ctx, s, &out, job)
}

// Prune deletes events, finished invocation records, schedule tick
// records and finished jobs older than their retention; it runs every
// RetentionInterval.
func (s *Service) Prune(ctx context.Context) error {
	now := s.cfg.Now()
	evs, err := s.st.PruneEvents(ctx, now.Add(-s.cfg.EventRetention))
	if err != nil {
		return err
	}
	invs, err := s.st.PruneInvocations(ctx, now.Add(-s.cfg.InvocationRetention))
	if err != nil {
		return err
	}
	ticks, err := s.st.PruneTicks(ctx, now.Add(-s.cfg.InvocationRetention))
	if err != nil {
		return err
	}
	jobs, err := s.st.PruneFinishedJobs(ctx, queueName, now.Add(-s.cfg.JobRetention))
	if err != nil {
		return err
	}
	s.log.Info("pruned old records", "events", evs, "invocations", invs, "ticks", ticks, "jobs", jobs)
	return nil
}
