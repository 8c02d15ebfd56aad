package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// IssueTicket returns a new stream ticket for token tokenID, opening only
// topics (every topic when empty), and when it expires.
func (s *Service) IssueTicket(ctx context.Context, tokenID int64, topics []string) (string, time.Time, error) {
	return s.ticket.Issue(ctx, tokenID, topics)
}

// CheckTicket checks a stream ticket and returns what it grants:
// ErrBadTicket when it is forged or expired, ErrRevoked when its token was
// revoked.
func (s *Service) CheckTicket(ctx context.Context, ticket string) (Ticket, error) {
	t, err := s.ticket.Check(ctx, ticket)
	if err != nil {
		return Ticket{}, err
	}
	if err := s.checkLive(ctx, t.TokenID); err != nil {
		return Ticket{}, err
	}
	return t, nil
}

// Subscribe subscribes a stream client of token tokenID to topics (all
// when empty); see Hub. A token holds at most MaxStreamsPerToken streams
// on this node (ErrTooManyStreams beyond). The token is checked once the
// subscription is registered, so a revocation announced before is seen
// here and one announced after closes the stream (ErrRevoked).
func (s *Service) Subscribe(ctx context.Context, tokenID int64, topics []string) (*Subscription, error) {
	sub, err := s.hub.SubscribeToken(tokenID, topics, s.cfg.MaxStreamsPerToken)
	if err != nil {
		return nil, err
	}
	if tokenID != 0 {
		if err := s.checkLive(ctx, tokenID); err != nil {
			s.hub.Unsubscribe(sub)
			return nil, err
		}
	}
	return sub, nil
}

// checkLive returns ErrRevoked unless token id exists and is not revoked.
func (s *Service) checkLive(ctx context.Context, id int64) error {
	live, err := s.st.LiveTokenIDs(ctx, []int64{id})
	if err != nil {
		return fmt.Errorf("check token %d: %w", id, err)
	}
	if len(live) == 0 {
		return ErrRevoked
	}
	return nil
}

// Unsubscribe ends sub.
func (s *Service) Unsubscribe(sub *Subscription) { s.hub.Unsubscribe(sub) }

// watchTokens closes the streams of revoked tokens: RevokeToken runs on
// every revocation heard on TokensChannel (see subscribe); this loop also
// re-reads the liveness of every token with an open stream every
// TokenRecheck and after the notifier reconnects (a revocation may have
// been missed meanwhile).
func (s *Service) watchTokens(ctx context.Context) {
	t := time.NewTicker(s.cfg.TokenRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.recheck:
		}
		ids := s.hub.tokens()
		if len(ids) == 0 {
			continue
		}
		live, err := s.st.LiveTokenIDs(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("re-check tokens of open streams", "error", err)
			}
			continue
		}
		for _, id := range ids {
			if !slices.Contains(live, id) {
				if n := s.hub.RevokeToken(id); n > 0 {
					s.log.Info("closed streams of a revoked token", "token_id", id, "streams", n)
				}
			}
		}
	}
}

// pokeRecheck makes watchTokens re-check at once.
func (s *Service) pokeRecheck() {
	select {
	case s.recheck <- struct{}{}:
	default:
	}
}

// NextFire returns the first tick of the cron expression expr in time zone
// tz after t.
func NextFire(expr, tz string, t time.Time) (time.Time, error) {
	sched, loc, err := ParseSchedule(expr, tz)
	if err != nil {
		return time.Time{}, err
	}
	return nextTick(sched, loc, t), nil
}
