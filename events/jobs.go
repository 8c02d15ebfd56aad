package events

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
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
	// Hop is the delivery's hop count (see invoke.Result.Hop): beyond
	// MaxHops it dead-letters without running.
	Hop int `json:"hop,omitempty"`
}

// MaxHops bounds a chain of events: a delivery (or an async call) more
// than MaxHops hops from the direct call or publish that started it
// dead-letters at once, without running and without retries, so that a
// handler emitting to its own topic stops.
const MaxHops = 16

// maxHopsOf is the bound of a delivery's hop: MaxHops, and two more for a
// dead-letter delivery (one hop after the failed delivery), so that the
// dead letter of a delivery stopped by the limit still reaches its
// handlers; what those emit is past the limit.
func maxHopsOf(trigger string) int {
	if trigger == protocol.TriggerDeadLetter {
		return MaxHops + 2
	}
	return MaxHops
}

// hopError is the failure of a delivery past MaxHops.
func hopError(hop int) error {
	return fmt.Errorf("hop limit: this delivery is %d hops from the call or publish that started the chain, more than %d; "+
		"a handler probably emits events that trigger it again", hop, MaxHops)
}

// Kind is the River job kind.
func (DeliveryArgs) Kind() string { return "picloud_delivery" }

// fill sets EventID, Topic, PublishedAt and Payload from Event when the job
// was queued by a publish, whose args carry them only once, in "event".
func (a *DeliveryArgs) fill() error {
	if a.EventID != 0 || a.Trigger != protocol.TriggerEvent || len(a.Event) == 0 {
		return nil
	}
	var ev eventView
	if err := json.Unmarshal(a.Event, &ev); err != nil {
		return fmt.Errorf("read the event of a delivery: %w", err)
	}
	a.EventID, a.Topic, a.PublishedAt, a.Payload = ev.ID, ev.Topic, ev.PublishedAt, ev.Payload
	return nil
}

// InvokeArgs is the River job of an asynchronous invocation.
type InvokeArgs struct {
	InvocationID string           `json:"invocation_id"`
	Function     string           `json:"function"`
	Request      protocol.Request `json:"request"`
	// Hop is the call's hop count (0 for an HTTP or API call).
	Hop int `json:"hop,omitempty"`
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
	s := w.s
	if err := job.Args.fill(); err != nil {
		return river.JobCancel(err) // cannot happen: the args are ours
	}
	a := job.Args
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
	if a.Hop > maxHopsOf(a.Trigger) {
		return s.overHops(ctx, job, req)
	}
	res := s.cfg.Invoker.Lookup(ctx, a.Function, req)
	res.Hop = a.Hop
	switch {
	case res.Outcome == functions.OutcomeGone:
		s.log.Info("delivery dropped: function was deleted", "function", a.Function, "job_id", job.ID)
		return river.JobCancel(res.Err)
	case res.Outcome.Retryable():
		d := s.backoff(1)
		s.log.Debug("delivery postponed", "function", a.Function, "error", res.Err, "retry_in", d.String())
		return river.JobSnooze(d)
	}
	last := job.Attempt >= job.MaxAttempts
	if !res.Outcome.Failed() || (!last || a.Trigger == protocol.TriggerDeadLetter) {
		// A success commits its emitted events with the job's completion;
		// a failed attempt is recorded and River retries it.
		var then func(*store.Tx) error
		if len(res.Emitted) > 0 {
			then = func(tx *store.Tx) error {
				if res.Outcome.Failed() {
					return nil // the events were invalid: a failed attempt
				}
				return store.CompleteJobTx(ctx, tx, job)
			}
		}
		if err := s.cfg.Invoker.Record(ctx, &res, then); err != nil {
			return err
		}
		if !res.Outcome.Failed() {
			return nil
		}
		if last && a.Trigger == protocol.TriggerDeadLetter {
			s.log.Warn("dead-letter handler failed on its last attempt", "function", a.Function,
				"attempt", job.Attempt, "error", res.Err)
		}
		return res.Err
	}
	return s.deadLetter(ctx, job, &res)
}

// deadLetter records a delivery that failed its last attempt and queues the
// dead-letter triggers, in one transaction with the job's completion.
func (s *Service) deadLetter(ctx context.Context, job *river.Job[DeliveryArgs], res *invoke.Result) error {
	a := job.Args
	attempts := make([]store.Attempt, 0, len(job.Errors)+1)
	for _, e := range job.Errors {
		attempts = append(attempts, store.Attempt{Attempt: e.Attempt, At: e.At, Error: e.Error})
	}
	attempts = append(attempts, store.Attempt{Attempt: job.Attempt, At: s.cfg.Now().UTC(), Error: res.Err.Error()})
	err := s.cfg.Invoker.Record(ctx, res, func(tx *store.Tx) error {
		dl, err := s.st.InsertDeadLetterTx(ctx, tx, store.DeadLetter{
			Function: a.Function, Trigger: a.Trigger, EventID: a.EventID, Topic: a.Topic,
			Payload: a.Payload, PublishedAt: a.PublishedAt, Attempts: attempts, Retries: a.Retries,
		})
		if err != nil {
			return err
		}
		if err := s.queueDeadLetterTx(ctx, tx, dl, a.Hop+1); err != nil {
			return err
		}
		return store.CompleteJobTx(ctx, tx, job)
	})
	if err != nil {
		return fmt.Errorf("record dead letter: %w", err)
	}
	s.log.Warn("delivery failed for good: dead letter recorded", "function", a.Function,
		"trigger", a.Trigger, "event_id", a.EventID, "attempts", job.Attempt, "error", res.Err)
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

// overHops ends a delivery past MaxHops without running it: a dead letter
// at once (no retries) whose error names the hop limit; a dead-letter
// delivery that far is only recorded as failed.
func (s *Service) overHops(ctx context.Context, job *river.Job[DeliveryArgs], req *protocol.Request) error {
	a := job.Args
	err := hopError(a.Hop)
	o := functions.OutcomeError
	res := invoke.Result{Outcome: o, Err: err, Hop: a.Hop, Record: functions.Invocation{
		ID: req.InvocationID, Function: a.Function, Trigger: a.Trigger, Method: req.Method, Path: req.Path,
		Status: functions.StatusFailed, Error: err.Error(), HTTPStatus: o.HTTPStatus(0), StartedAt: s.cfg.Now(),
	}}
	if a.Trigger == protocol.TriggerDeadLetter {
		s.log.Warn("dead-letter delivery past the hop limit dropped", "function", a.Function, "hop", a.Hop)
		return s.cfg.Invoker.Record(ctx, &res, func(tx *store.Tx) error { return store.CompleteJobTx(ctx, tx, job) })
	}
	return s.deadLetter(ctx, job, &res)
}

// queueDeadLetterTx queues dl for every dead-letter trigger at hop, inside
// tx.
func (s *Service) queueDeadLetterTx(ctx context.Context, tx *store.Tx, dl store.DeadLetter, hop int) error {
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
			Topic: dl.Topic, PublishedAt: dl.PublishedAt, Payload: dl.Payload, Event: view, Hop: hop,
		}, sub.MaxAttempts))
	}
	if err := s.queue.InsertManyTx(ctx, tx, params); err != nil {
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
	if a.Hop > MaxHops {
		err := hopError(a.Hop)
		o := functions.OutcomeError
		res := invoke.Result{Outcome: o, Err: err, Hop: a.Hop, Record: functions.Invocation{
			ID: a.InvocationID, Function: a.Function, Trigger: req.Trigger, Method: req.Method, Path: req.Path,
			Status: functions.StatusFailed, Error: err.Error(), HTTPStatus: o.HTTPStatus(0), StartedAt: s.cfg.Now(),
		}}
		return s.cfg.Invoker.Record(ctx, &res, func(tx *store.Tx) error { return store.CompleteJobTx(ctx, tx, job) })
	}
	res := s.cfg.Invoker.Lookup(ctx, a.Function, &req)
	res.Hop = a.Hop
	if res.Outcome.Retryable() {
		return river.JobSnooze(s.backoff(1))
	}
	// Success or failure, the invocation is done: a handler error is its
	// result, not a reason to run it again.
	return s.cfg.Invoker.Record(ctx, &res, func(tx *store.Tx) error { return store.CompleteJobTx(ctx, tx, job) })
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
