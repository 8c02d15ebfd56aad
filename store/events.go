package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// This file and the other store/events*.go files hold the SQL of the events
// package (event log, triggers, dead letters, schedules, async invocation
// records). The tables are created by schema/010_events.sql.

// Channels the events tables notify on.
const (
	// EventsChannel carries the id of the newest event of each committed
	// publishing transaction.
	EventsChannel = "picloud_events"
	// SchedulesChannel is notified on any change of the schedules table.
	SchedulesChannel = "picloud_schedules"
)

// eventLogLockKey is the transaction-level advisory lock that serializes
// inserts into the event log, so that event ids commit in increasing order
// (a reader that saw id N never later finds a committed id below N).
const eventLogLockKey int64 = 0x7069636c6f7564 // "picloud"

// ticketKeyName is the app_secrets row holding the SSE ticket HMAC key.
const ticketKeyName = "events_ticket_hmac"

// EventStore is the events package's access to PostgreSQL.
type EventStore struct {
	store *Store
	pool  *pgxpool.Pool
}

// Events returns the events SQL over s's pool.
func (s *Store) Events() *EventStore {
	return &EventStore{store: s, pool: s.pool}
}

// NewNotifier is Store.NewNotifier.
func (s *EventStore) NewNotifier(cfg NotifierConfig) *Notifier { return s.store.NewNotifier(cfg) }

// Event is one row of the event log.
type Event struct {
	ID          int64           `json:"id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	Source      string          `json:"source,omitempty"`
	PublishedAt time.Time       `json:"published_at"`
}

// NewEvent is an event to publish: Payload must be valid JSON.
type NewEvent struct {
	Topic   string
	Payload json.RawMessage
	// Source says who published: "api" or "fn:NAME".
	Source string
}

// batchSender is what pgxpool.Pool and pgx.Tx have in common for batches.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// DeliveryJob says how PublishEvents queues the deliveries of an event:
// one River job of Kind in Queue per subscribed function, its args the
// JSON of events.DeliveryArgs.
type DeliveryJob struct {
	Kind  string
	Queue string
	// Hop is the deliveries' hop count (args "hop", and req.event.hop):
	// 0 for events published directly, h+1 for events emitted by a run at
	// hop h.
	Hop int
}

// PublishEvents appends evs to the event log, queues their deliveries and
// notifies EventsChannel and River's insert channel, in one round trip.
// With tx it runs inside that transaction (committed by the
// caller); with tx nil it runs on the pool as one implicit transaction. It
// takes the event log's advisory lock, which serializes publishes until
// commit, so ids become visible in increasing order. It returns the events
// and the number of deliveries queued for each.
func (s *EventStore) PublishEvents(ctx context.Context, tx *Tx, evs []NewEvent, job DeliveryJob) ([]Event, []int, error) {
	if len(evs) == 0 {
		return nil, nil, nil
	}
	var q batchSender = s.pool
	if tx != nil {
		q = tx.tx
	}
	topics := make([]string, len(evs))
	payloads := make([]string, len(evs))
	sources := make([]string, len(evs))
	for i, e := range evs {
		topics[i], payloads[i], sources[i] = e.Topic, string(e.Payload), e.Source
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", eventLogLockKey)
	b.Queue(publishEventSQL, topics, payloads, sources, job.Kind, job.Queue, job.Hop)
	// currval is this transaction's last id: the newest event.
	b.Queue(`SELECT pg_notify($1, currval('events_id_seq')::text),
		pg_notify(current_schema() || '.' || $3, $2)`, EventsChannel, `{"queue":"`+job.Queue+`"}`, riverInsertChannel)
	br := q.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, nil, interpretError(err, "lock event log")
	}
	out := make([]Event, len(evs))
	counts := make([]int, len(evs))
	rows, err := br.Query()
	if err != nil {
		return nil, nil, interpretError(err, "publish events")
	}
	i := 0
	for rows.Next() {
		if i >= len(evs) {
			break
		}
		out[i] = Event{Topic: evs[i].Topic, Payload: evs[i].Payload, Source: evs[i].Source}
		if err := rows.Scan(&out[i].ID, &out[i].PublishedAt, &counts[i]); err != nil {
			rows.Close()
			return nil, nil, interpretError(err, "publish events")
		}
		i++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, interpretError(err, "publish events")
	}
	if i != len(evs) {
		return nil, nil, fmt.Errorf("publish events: %d of %d rows returned", i, len(evs))
	}
	if _, err := br.Exec(); err != nil {
		return nil, nil, interpretError(err, "notify "+EventsChannel)
	}
	if err := br.Close(); err != nil {
		return nil, nil, interpretError(err, "publish events")
	}
	return out, counts, nil
}

// EventsAfter returns up to limit events with afterID < id <= upTo (upTo 0
// means no upper bound), in id order, restricted to topics unless topics is
// empty.
func (s *EventStore) EventsAfter(ctx context.Context, afterID, upTo int64, topics []string, limit int) ([]Event, error) {
	if upTo <= 0 {
		upTo = 1<<63 - 1
	}
	var rows pgx.Rows
	var err error
	if len(topics) == 0 {
		rows, err = s.pool.Query(ctx, `SELECT id, topic, payload, source, published_at FROM events
			WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, afterID, upTo, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT id, topic, payload, source, published_at FROM events
			WHERE id > $1 AND id <= $2 AND topic = ANY($3) ORDER BY id LIMIT $4`, afterID, upTo, topics, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", afterID, err)
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", afterID, err)
	}
	return evs, nil
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	var payload []byte
	err := row.Scan(&e.ID, &e.Topic, &payload, &e.Source, &e.PublishedAt)
	e.Payload = payload
	return e, err
}

// GetEvent returns one event, or ErrNotFound.
func (s *EventStore) GetEvent(ctx context.Context, id int64) (Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, topic, payload, source, published_at FROM events WHERE id = $1`, id)
	if err != nil {
		return Event{}, fmt.Errorf("get event %d: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if err != nil {
		return Event{}, interpretError(err, fmt.Sprintf("get event %d", id))
	}
	return e, nil
}

// LastEventID returns the id of the newest committed event, 0 for none.
func (s *EventStore) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM events").Scan(&id); err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	return id, nil
}

// PruneEvents deletes events published before t and returns how many.
func (s *EventStore) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM events WHERE published_at < $1", before)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneInvocations deletes invocation records created before t that are
// finished, and the per-minute aggregates of minutes before t, and returns
// how many records it deleted.
func (s *EventStore) PruneInvocations(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM invocations
		WHERE created_at < $1 AND status NOT IN ('queued', 'running')`, before)
	if err != nil {
		return 0, fmt.Errorf("prune invocations: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM invocation_minutes WHERE minute < $1`, before); err != nil {
		return 0, fmt.Errorf("prune invocation aggregates: %w", err)
	}
	return tag.RowsAffected(), nil
}

// TicketKey returns the HMAC key of SSE tickets, creating it on first use.
// Every node reads the same row, so tickets work cluster-wide and survive
// restarts.
func (s *EventStore) TicketKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate ticket key: %w", err)
	}
	var got []byte
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO app_secrets (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING RETURNING value)
		SELECT value FROM ins UNION ALL SELECT value FROM app_secrets WHERE name = $1
		LIMIT 1`, ticketKeyName, key).Scan(&got)
	if err != nil {
		return nil, fmt.Errorf("get or create ticket key: %w", err)
	}
	return got, nil
}

// Notify sends payload on channel (outside any transaction).
func (s *EventStore) Notify(ctx context.Context, channel, payload string) error {
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// LiveTokenIDs is Store.LiveTokenIDs (streams are bound to their token).
func (s *EventStore) LiveTokenIDs(ctx context.Context, ids []int64) ([]int64, error) {
	return s.store.LiveTokenIDs(ctx, ids)
}
