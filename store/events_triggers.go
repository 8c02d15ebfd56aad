package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Trigger kinds.
const (
	TriggerKindTopic       = "topic"
	TriggerKindDeadLetters = "dead_letters"
)

// Trigger subscribes a function to a topic or to dead letters.
type Trigger struct {
	ID        int64     `json:"id"`
	Function  string    `json:"function"`
	Kind      string    `json:"kind"`            // TriggerKindTopic or TriggerKindDeadLetters
	Topic     string    `json:"topic,omitempty"` // for kind topic
	CreatedAt time.Time `json:"created_at"`
}

// Subscriber is a function a delivery goes to, with its attempt budget.
type Subscriber struct {
	Function    string
	Topic       string
	MaxAttempts int
}

// AddTrigger subscribes function. An unknown function is ErrNotFound, the
// same subscription twice ErrConflict.
func (s *EventStore) AddTrigger(ctx context.Context, function, kind, topic string) (Trigger, error) {
	t := Trigger{Function: function, Kind: kind, Topic: topic}
	err := s.pool.QueryRow(ctx, `INSERT INTO triggers (function, kind, topic) VALUES ($1, $2, $3)
		RETURNING id, created_at`, function, kind, topic).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return Trigger{}, interpretError(err, fmt.Sprintf("add trigger for %s", function))
	}
	return t, nil
}

// ListTriggers returns the triggers of function (every trigger when
// function is ""), oldest first.
func (s *EventStore) ListTriggers(ctx context.Context, function string) ([]Trigger, error) {
	return s.ListTriggersPage(ctx, function, 0, 0)
}

// ListTriggersPage is one page of ListTriggers in one query: at most limit
// triggers (every one when limit <= 0) with an id above afterID.
func (s *EventStore) ListTriggersPage(ctx context.Context, function string, afterID int64, limit int) ([]Trigger, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, function, kind, topic, created_at FROM triggers
		WHERE ($1 = '' OR function = $1) AND id > $2 ORDER BY id LIMIT $3`, function, afterID, pageLimit(limit))
	if err != nil {
		return nil, interpretError(err, "list triggers")
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trigger, error) {
		var t Trigger
		err := r.Scan(&t.ID, &t.Function, &t.Kind, &t.Topic, &t.CreatedAt)
		return t, err
	})
	if err != nil {
		return nil, interpretError(err, "list triggers")
	}
	return ts, nil
}

// DeleteTrigger removes a trigger; a missing one is ErrNotFound.
func (s *EventStore) DeleteTrigger(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM triggers WHERE id = $1", id)
	if err != nil {
		return interpretError(err, fmt.Sprintf("delete trigger %d", id))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("trigger %d: %w", id, ErrNotFound)
	}
	return nil
}

// SubscribersTx returns, inside tx, the functions subscribed to any of
// topics (kind topic) or, when kind is TriggerKindDeadLetters, to dead
// letters, each with its max_attempts.
func (s *EventStore) SubscribersTx(ctx context.Context, tx *Tx, kind string, topics []string) ([]Subscriber, error) {
	if kind == TriggerKindDeadLetters {
		topics = []string{""}
	}
	rows, err := tx.tx.Query(ctx, subscribersSQL, kind, topics)
	if err != nil {
		return nil, interpretError(err, "read subscribers")
	}
	subs, err := pgx.CollectRows(rows, scanSubscriber)
	if err != nil {
		return nil, interpretError(err, "read subscribers")
	}
	return subs, nil
}

const subscribersSQL = `SELECT t.function, t.topic, f.max_attempts
	FROM triggers t JOIN functions f ON f.name = t.function
	WHERE t.kind = $1 AND t.topic = ANY($2) ORDER BY t.id`

func scanSubscriber(r pgx.CollectableRow) (Subscriber, error) {
	var sub Subscriber
	err := r.Scan(&sub.Function, &sub.Topic, &sub.MaxAttempts)
	return sub, err
}

// FunctionMaxAttempts returns the delivery attempts of function
// (functions.max_attempts), or ErrNotFound.
func (s *EventStore) FunctionMaxAttempts(ctx context.Context, function string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT max_attempts FROM functions WHERE name = $1", function).Scan(&n)
	if err != nil {
		return 0, interpretError(err, fmt.Sprintf("function %s", function))
	}
	return n, nil
}
