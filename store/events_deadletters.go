package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeadLetter is a delivery that failed on its last attempt.
type DeadLetter struct {
	ID       int64  `json:"id"`
	Function string `json:"function"`
	// Trigger is what the failed delivery was: "event" or "cron".
	Trigger     string          `json:"trigger"`
	EventID     int64           `json:"event_id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	PublishedAt time.Time       `json:"published_at"`
	Attempts    []Attempt       `json:"attempts"`
	// Retries counts how often this delivery was retried from the
	// dead-letter queue before failing again.
	Retries   int       `json:"retries"`
	CreatedAt time.Time `json:"created_at"`
}

// Attempt is one failed attempt of a delivery.
type Attempt struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// InsertDeadLetterTx records dl inside tx (ID and CreatedAt are set by the
// database) and returns it complete.
func (s *EventStore) InsertDeadLetterTx(ctx context.Context, tx *Tx, dl DeadLetter) (DeadLetter, error) {
	attempts, err := json.Marshal(dl.Attempts)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("encode attempts: %w", err)
	}
	payload := dl.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	err = tx.tx.QueryRow(ctx, `INSERT INTO dead_letters
		(function, trigger, event_id, topic, payload, published_at, attempts, retries)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, created_at`,
		dl.Function, dl.Trigger, dl.EventID, dl.Topic, payload, dl.PublishedAt, attempts, dl.Retries,
	).Scan(&dl.ID, &dl.CreatedAt)
	if err != nil {
		return DeadLetter{}, interpretError(err, "insert dead letter")
	}
	dl.Payload = payload
	return dl, nil
}

const deadLetterColumns = `id, function, trigger, event_id, topic, payload, published_at, attempts, retries, created_at`

func scanDeadLetter(r pgx.CollectableRow) (DeadLetter, error) {
	var dl DeadLetter
	var payload, attempts []byte
	err := r.Scan(&dl.ID, &dl.Function, &dl.Trigger, &dl.EventID, &dl.Topic, &payload,
		&dl.PublishedAt, &attempts, &dl.Retries, &dl.CreatedAt)
	if err != nil {
		return dl, err
	}
	dl.Payload = payload
	if err := json.Unmarshal(attempts, &dl.Attempts); err != nil {
		return dl, fmt.Errorf("decode attempts of dead letter %d: %w", dl.ID, err)
	}
	return dl, nil
}

// ListDeadLetters returns up to limit dead letters with id < before (0: no
// bound), newest first, of function ("" for all).
func (s *EventStore) ListDeadLetters(ctx context.Context, function string, before int64, limit int) ([]DeadLetter, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters
		WHERE ($1 = '' OR function = $1) AND id < $2 ORDER BY id DESC LIMIT $3`, function, before, limit)
	if err != nil {
		return nil, interpretError(err, "list dead letters")
	}
	dls, err := pgx.CollectRows(rows, scanDeadLetter)
	if err != nil {
		return nil, interpretError(err, "list dead letters")
	}
	return dls, nil
}

// GetDeadLetter returns one dead letter, or ErrNotFound.
func (s *EventStore) GetDeadLetter(ctx context.Context, id int64) (DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = $1`, id)
	if err != nil {
		return DeadLetter{}, interpretError(err, fmt.Sprintf("get dead letter %d", id))
	}
	dl, err := pgx.CollectExactlyOneRow(rows, scanDeadLetter)
	if err != nil {
		return DeadLetter{}, interpretError(err, fmt.Sprintf("dead letter %d", id))
	}
	return dl, nil
}

// TakeDeadLetterTx removes dead letter id inside tx and returns it (a
// retry moves it back to the queue), or ErrNotFound.
func (s *EventStore) TakeDeadLetterTx(ctx context.Context, tx *Tx, id int64) (DeadLetter, error) {
	rows, err := tx.tx.Query(ctx, `DELETE FROM dead_letters WHERE id = $1 RETURNING `+deadLetterColumns, id)
	if err != nil {
		return DeadLetter{}, interpretError(err, fmt.Sprintf("retry dead letter %d", id))
	}
	dl, err := pgx.CollectExactlyOneRow(rows, scanDeadLetter)
	if err != nil {
		return DeadLetter{}, interpretError(err, fmt.Sprintf("dead letter %d", id))
	}
	return dl, nil
}

// DeleteDeadLetter removes a dead letter; a missing one is ErrNotFound.
func (s *EventStore) DeleteDeadLetter(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM dead_letters WHERE id = $1", id)
	if err != nil {
		return interpretError(err, fmt.Sprintf("delete dead letter %d", id))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("dead letter %d: %w", id, ErrNotFound)
	}
	return nil
}
