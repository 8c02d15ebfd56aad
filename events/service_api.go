package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// What the HTTP API (package api) calls on the service.

// RetryDeadLetter moves dead letter id back to the queue as a new delivery
// with its attempts reset (the function's current max_attempts).
func (s *Service) RetryDeadLetter(ctx context.Context, id int64) (store.DeadLetter, error) {
	var dl store.DeadLetter
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		dl, err = s.st.TakeDeadLetterTx(ctx, tx, id)
		if err != nil {
			return err
		}
		fn, err := s.cfg.Functions.Get(ctx, dl.Function)
		if err != nil {
			return fmt.Errorf("function %s of dead letter %d: %w", dl.Function, id, err)
		}
		view, err := json.Marshal(eventView{ID: dl.EventID, Topic: dl.Topic, Payload: dl.Payload, PublishedAt: dl.PublishedAt})
		if err != nil {
			return err
		}
		err = s.queue.InsertTx(ctx, tx, DeliveryArgs{
			Function: dl.Function, Trigger: dl.Trigger, EventID: dl.EventID, Topic: dl.Topic,
			PublishedAt: dl.PublishedAt, Payload: dl.Payload, Event: view, Retries: dl.Retries + 1,
		}, &river.InsertOpts{Queue: queueName, MaxAttempts: max(fn.MaxAttempts, 1)})
		if err != nil {
			return fmt.Errorf("queue retry of dead letter %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return store.DeadLetter{}, err
	}
	return dl, nil
}

// InvokeAsync enqueues an asynchronous invocation of fn.
func (s *Service) InvokeAsync(ctx context.Context, fn *store.Function, req *protocol.Request) (string, error) {
	return s.EnqueueInvocation(ctx, fn.Name, req)
}

// IssueTicket returns a new stream ticket and when it expires.
func (s *Service) IssueTicket(ctx context.Context) (string, time.Time, error) {
	return s.ticket.Issue(ctx)
}

// CheckTicket checks a stream ticket: ErrBadTicket when it is not valid.
func (s *Service) CheckTicket(ctx context.Context, ticket string) error {
	return s.ticket.Check(ctx, ticket)
}

// Subscribe subscribes a stream client to topics (all when empty); see Hub.
func (s *Service) Subscribe(topics []string) *Subscription { return s.hub.Subscribe(topics) }

// Unsubscribe ends sub.
func (s *Service) Unsubscribe(sub *Subscription) { s.hub.Unsubscribe(sub) }

// NextFire returns the first tick of the cron expression expr in time zone
// tz after t.
func NextFire(expr, tz string, t time.Time) (time.Time, error) {
	sched, loc, err := ParseSchedule(expr, tz)
	if err != nil {
		return time.Time{}, err
	}
	return nextTick(sched, loc, t), nil
}
