package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// ErrInvalid marks a request the caller must fix (HTTP 400).
var ErrInvalid = errors.New("invalid")

// topicRE is what a topic name may look like.
var topicRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// ValidateTopic checks a topic name.
func ValidateTopic(topic string) error {
	if !topicRE.MatchString(topic) {
		return fmt.Errorf("topic %q is not valid: use 1-128 letters, digits and . _ : / - (starting with a letter or digit): %w", topic, ErrInvalid)
	}
	return nil
}

// Published is the outcome of publishing one event.
type Published struct {
	Event store.Event `json:"event"`
	// Deliveries is the number of subscribed functions it was queued for.
	Deliveries int `json:"deliveries"`
}

// Publish appends an event to the log and queues one delivery per
// subscribed function, in one transaction. payload must be JSON.
func (s *Service) Publish(ctx context.Context, topic string, payload json.RawMessage, source string) (Published, error) {
	out, err := s.PublishBatch(ctx, topic, []json.RawMessage{payload}, source)
	if err != nil {
		return Published{}, err
	}
	return out[0], nil
}

// MaxBatchEvents bounds the events of one PublishBatch (one request).
const MaxBatchEvents = 1000

// ErrBatchTooLarge is a batch of more than MaxBatchEvents events.
var ErrBatchTooLarge = errors.New("batch too large")

// PublishBatch appends payloads to the log as one event each, in their
// order (increasing ids), and queues one delivery per event and
// subscribed function, all in one transaction: every event is published
// or none is. Each payload must be JSON of at most MaxPayloadBytes; at
// most MaxBatchEvents of them (else ErrBatchTooLarge).
func (s *Service) PublishBatch(ctx context.Context, topic string, payloads []json.RawMessage, source string) ([]Published, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	switch {
	case len(payloads) == 0:
		return nil, fmt.Errorf("no events to publish: give at least one payload: %w", ErrInvalid)
	case len(payloads) > MaxBatchEvents:
		return nil, fmt.Errorf("%w: %d events, more than %d in one publish; split the batch", ErrBatchTooLarge, len(payloads), MaxBatchEvents)
	}
	evs := make([]store.NewEvent, len(payloads))
	for i, payload := range payloads {
		if !json.Valid(payload) {
			return nil, fmt.Errorf("%s is not valid JSON: %w", payloadName(i, len(payloads)), ErrInvalid)
		}
		if len(payload) > MaxPayloadBytes {
			return nil, fmt.Errorf("%s is %d bytes, more than %d: %w", payloadName(i, len(payloads)), len(payload), MaxPayloadBytes, ErrInvalid)
		}
		evs[i] = store.NewEvent{Topic: topic, Payload: payload, Source: source}
	}
	out, err := s.pub.publish(ctx, evs)
	if err != nil {
		return nil, fmt.Errorf("publish on %s: %w", topic, err)
	}
	return out, nil
}

// payloadName names payload i of n in an error.
func payloadName(i, n int) string {
	if n == 1 {
		return "payload"
	}
	return fmt.Sprintf("payload %d (from 0)", i)
}

// CheckEvents is invoke.Committer's: it says whether the events a run of
// function emitted can be published (topic, JSON payload, size); the
// error names the bad event.
func (s *Service) CheckEvents(function string, emitted []protocol.Event) error {
	if _, err := emittedEvents(function, emitted); err != nil {
		return errors.New(trimInvalid(err))
	}
	return nil
}

// Commit is invoke.Committer's: it writes rec, runs then and publishes
// emitted (already checked) at hop+1, in one transaction, so the events
// exist and the job is done exactly when the record commits. The events
// go last, in one statement: publishing takes the event log's lock, which
// every publish of the cluster waits for until this transaction commits.
func (s *Service) Commit(ctx context.Context, rec functions.Invocation, emitted []protocol.Event, hop int, then func(*store.Tx) error) error {
	evs, err := emittedEvents(rec.Function, emitted)
	if err != nil {
		return err
	}
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		if err := s.st.FinishInvocationTx(ctx, tx, rec); err != nil {
			return err
		}
		if then != nil {
			if err := then(tx); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			if _, _, err := s.st.PublishEvents(ctx, tx, evs, deliveryJob(hop+1)); err != nil {
				return err
			}
		}
		return nil
	})
}

// deliveryJob is how PublishEvents queues deliveries at hop.
func deliveryJob(hop int) store.DeliveryJob {
	return store.DeliveryJob{Kind: DeliveryArgs{}.Kind(), Queue: queueName, Hop: hop}
}

func emittedEvents(function string, emitted []protocol.Event) ([]store.NewEvent, error) {
	evs := make([]store.NewEvent, len(emitted))
	for i, e := range emitted {
		if err := ValidateTopic(e.Topic); err != nil {
			return nil, err
		}
		payload := json.RawMessage(e.Payload)
		if len(payload) == 0 {
			payload = json.RawMessage("null")
		}
		if !json.Valid(payload) {
			return nil, fmt.Errorf("events.emit on %s: payload is not valid JSON: %w", e.Topic, ErrInvalid)
		}
		if len(payload) > MaxPayloadBytes {
			return nil, fmt.Errorf("events.emit on %s: payload is %d bytes, more than %d: %w", e.Topic, len(payload), MaxPayloadBytes, ErrInvalid)
		}
		evs[i] = store.NewEvent{Topic: e.Topic, Payload: payload, Source: "fn:" + function}
	}
	return evs, nil
}

// eventView is req.event of an event delivery (with the attempt added).
type eventView struct {
	ID          int64           `json:"id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	PublishedAt time.Time       `json:"published_at"`
}

func deliveryParams(a DeliveryArgs, maxAttempts int) river.InsertManyParams {
	if maxAttempts <= 0 {
		maxAttempts = store.DefaultMaxAttempts
	}
	return river.InsertManyParams{Args: a, InsertOpts: &river.InsertOpts{Queue: queueName, MaxAttempts: maxAttempts}}
}

// EnqueueInvocation queues an asynchronous call of function with req (the
// /fn request with X-PiCloud-Async: 1, or .../invoke?async=1) and returns
// its invocation id at once. The invocation is recorded as queued in the
// same transaction, then running, then succeeded or failed; read it at
// /api/v1/invocations/:id. An unknown function is an error wrapping
// store.ErrNotFound (answer 404); a function whose queued or running async
// calls reach MaxQueuedCalls or MaxQueuedBytes refuses more with
// ErrQueueFull (answer 429). req.InvocationID is used when set.
func (s *Service) EnqueueInvocation(ctx context.Context, function string, req *protocol.Request) (string, error) {
	fn, err := s.cfg.Functions.Get(ctx, function)
	if err != nil {
		return "", fmt.Errorf("enqueue invocation of %s: %w", function, err)
	}
	r := *req
	if r.InvocationID == "" {
		r.InvocationID = functions.NewInvocationID()
	}
	if r.Trigger == "" {
		r.Trigger = protocol.TriggerHTTP
	}
	size := requestBytes(&r)
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		n, bytes, err := s.st.PendingInvocationsTx(ctx, tx, fn.Name)
		if err != nil {
			return err
		}
		if n >= int64(s.cfg.MaxQueuedCalls) || bytes+size > s.cfg.MaxQueuedBytes {
			return fmt.Errorf("%w: function %s has %d calls of %d bytes waiting; the bound is %d calls and %d bytes",
				ErrQueueFull, fn.Name, n, bytes, s.cfg.MaxQueuedCalls, s.cfg.MaxQueuedBytes)
		}
		if err := s.st.InsertQueuedInvocationTx(ctx, tx, functions.Invocation{
			ID: r.InvocationID, Function: fn.Name, Version: fn.Current.Version,
			Trigger: r.Trigger, Method: r.Method, Path: r.Path,
		}, size); err != nil {
			return err
		}
		return s.queue.InsertTx(ctx, tx, InvokeArgs{InvocationID: r.InvocationID, Function: fn.Name, Request: r},
			&river.InsertOpts{Queue: queueName, MaxAttempts: invokeMaxAttempts})
	})
	if errors.Is(err, ErrQueueFull) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("enqueue invocation of %s: %w", function, err)
	}
	return r.InvocationID, nil
}

// ErrQueueFull is an async call refused because the function's queue of
// waiting calls is at its bound (Config.MaxQueuedCalls, MaxQueuedBytes).
var ErrQueueFull = errors.New("async queue full")

// requestBytes is about what a queued request weighs in the job table.
func requestBytes(r *protocol.Request) int64 {
	n := len(r.Body) + len(r.Path) + len(r.Method)
	for k, v := range r.Headers {
		n += len(k) + len(v)
	}
	for k, vs := range r.Query {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return int64(n)
}

// invokeMaxAttempts: an async invocation runs once; the second attempt is
// only for a job whose node died while running it.
const invokeMaxAttempts = 2

// maxPublishBatch bounds the events one publishing transaction takes
// from concurrent publishes: MaxBatchEvents, so that concurrent batch
// publishes share transactions too.
const maxPublishBatch = MaxBatchEvents

// publishers is the number of transactions publishing at once. They are
// serialized by the event log's lock, but with two the next one is
// already waiting on the lock in PostgreSQL when the current one commits,
// instead of starting a round trip only once the commit's answer is back.
const publishers = 2

// publisher group-commits concurrent Publish calls: publishes are
// serialized by the event log's lock anyway, so one transaction appending
// every event waiting at that moment costs about what one event costs. A
// request's events stay together, in order, in one transaction.
type publisher struct {
	st   *store.EventStore
	reqs chan *publishReq
}

type publishReq struct {
	evs  []store.NewEvent
	out  []Published
	err  error
	done chan struct{}
}

func newPublisher(st *store.EventStore) *publisher {
	return &publisher{st: st, reqs: make(chan *publishReq, maxPublishBatch)}
}

// publish queues evs for the next transaction and waits for its commit.
func (p *publisher) publish(ctx context.Context, evs []store.NewEvent) ([]Published, error) {
	r := &publishReq{evs: evs, done: make(chan struct{})}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		// The transaction may still commit the events; the caller cannot
		// know.
		return nil, ctx.Err()
	}
}

// run writes transactions until ctx ends; requests left then fail.
func (p *publisher) run(ctx context.Context) {
	batch := make([]*publishReq, 0, maxPublishBatch)
	evs := make([]store.NewEvent, 0, maxPublishBatch)
	var next *publishReq // taken from the channel, left for the next transaction
	for {
		if next != nil {
			batch, next = append(batch[:0], next), nil
		} else {
			select {
			case <-ctx.Done():
				p.failWaiting()
				return
			case r := <-p.reqs:
				batch = append(batch[:0], r)
			}
		}
		n := len(batch[0].evs)
	fill:
		for n < maxPublishBatch {
			select {
			case r := <-p.reqs:
				if n+len(r.evs) > maxPublishBatch {
					next = r
					break fill
				}
				batch = append(batch, r)
				n += len(r.evs)
			default:
				break fill
			}
		}
		evs = evs[:0]
		for _, r := range batch {
			evs = append(evs, r.evs...)
		}
		out, counts, err := p.st.PublishEvents(context.WithoutCancel(ctx), nil, evs, deliveryJob(0))
		i := 0
		for _, r := range batch {
			if err != nil {
				r.err = err
			} else {
				r.out = make([]Published, len(r.evs))
				for j := range r.evs {
					r.out[j] = Published{Event: out[i+j], Deliveries: counts[i+j]}
				}
			}
			i += len(r.evs)
			close(r.done)
		}
	}
}

// failWaiting fails the requests still queued when the service stops.
func (p *publisher) failWaiting() {
	for {
		select {
		case r := <-p.reqs:
			r.err = errors.New("events service is stopping")
			close(r.done)
		default:
			return
		}
	}
}

// trimInvalid drops the ": invalid" suffix of ErrInvalid from a message.
func trimInvalid(err error) string {
	msg := err.Error()
	return strings.TrimSuffix(msg, ": "+ErrInvalid.Error())
}
