package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/picloud/picloud/functions"
)

// eventsExecer is what pgxpool.Pool and pgx.Tx have in common for Exec.
type eventsExecer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// InsertQueuedInvocationTx records an accepted async invocation (status
// queued) inside tx, so GET /api/v1/invocations/:id finds it as soon as the
// 202 is sent.
// requestBytes is the size of the queued request, counted against the
// function's bound of queued bytes (see PendingInvocationsTx).
func (s *EventStore) InsertQueuedInvocationTx(ctx context.Context, tx *Tx, inv functions.Invocation, requestBytes int64) error {
	id, err := uuid.Parse(inv.ID)
	if err != nil {
		return fmt.Errorf("record queued invocation: id %q: %w", inv.ID, ErrInvalid)
	}
	inv.Status = functions.StatusQueued
	row, err := invocationRow(id, inv)
	if err != nil {
		return fmt.Errorf("record queued invocation: %w", err)
	}
	_, err = tx.tx.Exec(ctx, `INSERT INTO invocations (id, function, version, trigger, status, method, path,
			http_status, error, logs, logs_dropped, result, result_truncated, started_at, duration_us, request_bytes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, append(row, requestBytes)...)
	if err != nil {
		return interpretError(err, fmt.Sprintf("record queued invocation %s", inv.ID))
	}
	return nil
}

// PendingInvocationsTx takes function's async-queue lock for the rest of
// tx (so that concurrent enqueues count one after the other, on every
// node) and returns how many of its async calls are queued or running,
// and the bytes of their requests.
func (s *EventStore) PendingInvocationsTx(ctx context.Context, tx *Tx, function string) (n, bytes int64, err error) {
	if _, err := tx.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('picloud_async'), hashtext($1))`, function); err != nil {
		return 0, 0, interpretError(err, "lock async queue of "+function)
	}
	err = tx.tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(request_bytes), 0)::bigint FROM invocations
		WHERE function = $1 AND status IN ('queued', 'running')`, function).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, interpretError(err, "count queued calls of "+function)
	}
	return n, bytes, nil
}

// MarkInvocationRunning sets a queued async invocation to running.
func (s *EventStore) MarkInvocationRunning(ctx context.Context, id string, version int, startedAt time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE invocations SET status = 'running', version = $2, started_at = $3,
		updated_at = now() WHERE id = $1`, id, version, startedAt)
	if err != nil {
		return interpretError(err, fmt.Sprintf("mark invocation %s running", id))
	}
	return nil
}

// FinishInvocationTx writes the outcome of an invocation inside tx (so it
// commits together with the events the handler emitted): it replaces the
// row of an async invocation or inserts the record of a delivery.
func (s *EventStore) FinishInvocationTx(ctx context.Context, tx *Tx, inv functions.Invocation) error {
	return s.finishInvocation(ctx, tx.tx, inv)
}

// FinishInvocation is FinishInvocationTx on its own.
func (s *EventStore) FinishInvocation(ctx context.Context, inv functions.Invocation) error {
	return s.finishInvocation(ctx, s.pool, inv)
}

func (s *EventStore) finishInvocation(ctx context.Context, q eventsExecer, inv functions.Invocation) error {
	id, err := uuid.Parse(inv.ID)
	if err != nil {
		return fmt.Errorf("record invocation: id %q: %w", inv.ID, ErrInvalid)
	}
	row, err := invocationRow(id, inv)
	if err != nil {
		return fmt.Errorf("record invocation: %w", err)
	}
	_, err = q.Exec(ctx, `INSERT INTO invocations (id, function, version, trigger, status, method, path,
			http_status, error, logs, logs_dropped, result, result_truncated, started_at, duration_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
			http_status = EXCLUDED.http_status, error = EXCLUDED.error, logs = EXCLUDED.logs,
			logs_dropped = EXCLUDED.logs_dropped, result = EXCLUDED.result,
			result_truncated = EXCLUDED.result_truncated, started_at = EXCLUDED.started_at,
			duration_us = EXCLUDED.duration_us, updated_at = now()`, row...)
	if err != nil {
		return interpretError(err, fmt.Sprintf("record invocation %s", inv.ID))
	}
	return nil
}
