package store

// Everything that names River's private schema (its river_job table and
// river_job_state type, its insert notification channel) is in this file,
// so a River upgrade that changes them has one place to look, and
// TestRiverSchema_IsThePinnedVersion fails when River's schema version
// moves past the one these queries were written for.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// riverSchemaVersion is River's migration version the SQL below was written
// for (river_job's columns, river_job_state, the insert channel).
const riverSchemaVersion = 8

// riverInsertChannel is River's insert notification channel, without the
// schema prefix River adds (current_schema() || '.' || channel).
const riverInsertChannel = "river_insert"

// RiverInsertChannel returns River's insert channel in schema (the
// notifier LISTENs on it to wake an idle queue).
func RiverInsertChannel(schema string) string {
	if schema == "" {
		return riverInsertChannel
	}
	return schema + "." + riverInsertChannel
}

// publishEventSQL appends events and queues their deliveries: one
// river_job row per event and function subscribed to its topic, with the
// function's max_attempts and the hop count $6. The args are those of
// events.DeliveryArgs, slimmed to "function", "trigger", "hop" and "event"
// (id, topic, payload, published_at, hop: req.event without the attempt);
// the worker reads the rest from "event". Each key and value of args is an
// entry of River's GIN index on args, so not repeating them keeps the
// insert cheap. The count of deliveries per event is a hash join, not a
// subquery per event (that was quadratic in the batch, under the lock).
// Writing river_job here (instead of through River's insert API) keeps a
// publish to one round trip, which matters because publishes are
// serialized by the event log's lock; the columns are those of River's
// schema version riverSchemaVersion (River is pinned in go.mod and its
// tests run these jobs).
const publishEventSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(topic, payload, source, ord)
), ev AS (
	INSERT INTO events (topic, payload, source)
	SELECT topic, payload::jsonb, source FROM input ORDER BY ord
	RETURNING id, topic, payload, published_at
), jobs AS (
	INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags)
	SELECT jsonb_build_object('function', t.function, 'trigger', 'event', 'hop', $6::int,
			'event', jsonb_build_object('id', ev.id, 'topic', ev.topic, 'payload', ev.payload,
				'published_at', ev.published_at, 'hop', $6::int)),
		now(), $4, f.max_attempts, '{}'::jsonb, 1, $5, now(), 'available'::river_job_state, '{}'::varchar(255)[]
	FROM ev
	JOIN triggers t ON t.kind = 'topic' AND t.topic = ev.topic
	JOIN functions f ON f.name = t.function
	RETURNING (args->'event'->>'id')::bigint AS event_id
), counts AS (
	SELECT event_id, count(*)::int AS n FROM jobs GROUP BY event_id
)
SELECT ev.id, ev.published_at, coalesce(c.n, 0)
FROM ev LEFT JOIN counts c ON c.event_id = ev.id ORDER BY ev.id`

// WakeRiverQueue notifies River's insert channel in the current schema so
// that the producers of queue fetch now (used when a retry falls due, since
// River's poll interval is kept long to stay quiet while idle).
func (s *EventStore) WakeRiverQueue(ctx context.Context, queue string) error {
	payload, _ := json.Marshal(map[string]string{"queue": queue})
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify(current_schema() || '.' || $2, $1)", string(payload), riverInsertChannel); err != nil {
		return fmt.Errorf("wake river queue %s: %w", queue, err)
	}
	return nil
}

// NextRiverWork looks at the unfinished jobs of queue: due is when the
// earliest of them needs a running River client (a pending job's
// scheduled_at, or a running job's attempted_at + rescueAfter, when its
// node may have died), zero when there is none; soon reports whether due
// is within horizon from now.
func (s *EventStore) NextRiverWork(ctx context.Context, queue string, horizon, rescueAfter time.Duration) (due time.Time, soon bool, err error) {
	var next *time.Time
	err = s.pool.QueryRow(ctx, `SELECT least(
			min(scheduled_at) FILTER (WHERE state IN ('available', 'retryable', 'scheduled')),
			min(attempted_at + $2 * interval '1 microsecond') FILTER (WHERE state = 'running'))
		FROM river_job WHERE queue = $1 AND state IN ('available', 'retryable', 'scheduled', 'running')`,
		queue, rescueAfter.Microseconds()).Scan(&next)
	if err != nil {
		return time.Time{}, false, interpretError(err, "look for pending jobs")
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	var now time.Time
	if err := s.pool.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return time.Time{}, false, interpretError(err, "read the database clock")
	}
	return *next, !next.After(now.Add(horizon)), nil
}

// PruneFinishedJobs deletes River jobs of queue finished before t (River's
// own cleaner does this only while its client runs).
func (s *EventStore) PruneFinishedJobs(ctx context.Context, queue string, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM river_job WHERE queue = $1
		AND state IN ('completed', 'cancelled', 'discarded') AND finalized_at < $2`, queue, before)
	if err != nil {
		return 0, interpretError(err, "prune finished jobs")
	}
	return tag.RowsAffected(), nil
}

// CountPendingJobs returns how many async jobs (deliveries, async calls)
// wait to run: available, scheduled for later or waiting for a retry. The
// job table belongs to River (created by the events service at start).
func (s *Store) CountPendingJobs(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')`).Scan(&n)
	if err != nil {
		return 0, interpretError(err, "count pending jobs")
	}
	return n, nil
}

// ErrFenced: a job's completion came from a node that no longer holds the
// job (its lease expired and the job was re-queued, maybe already claimed
// by another node). The transaction that tried must roll back.
var ErrFenced = errors.New("job is no longer held by this node")

// completeHeldJobTx completes job id inside tx if it is still running the
// attempt this node claimed (attempt and the last entry of attempted_by,
// River's record of the claiming client), in one UPDATE; else it returns
// an error wrapping ErrFenced. The UPDATE takes the row lock, so a
// concurrent re-queue either waits for tx (and then finds the job
// finished) or commits first (and the UPDATE, re-checked, matches
// nothing).
func completeHeldJobTx(ctx context.Context, tx pgx.Tx, id int64, attempt int, holder string) error {
	tag, err := tx.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now()
		WHERE id = $1 AND state = 'running' AND attempt = $2
			AND attempted_by[array_upper(attempted_by, 1)] = $3`, id, attempt, holder)
	if err != nil {
		return interpretError(err, fmt.Sprintf("complete job %d", id))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job WHERE id = $1)`, id).Scan(&exists); err != nil {
		return interpretError(err, fmt.Sprintf("check the holder of job %d", id))
	}
	if !exists {
		return fmt.Errorf("complete job %d: it no longer exists: %w", id, ErrFenced)
	}
	return fmt.Errorf("complete job %d attempt %d as %s: %w", id, attempt, holder, ErrFenced)
}

// requeueJobsOfTx makes the jobs node was running available again at once
// (River's rescuer would wait for RescueAfter): the attempt stays spent
// and its error says why. It wakes the queues' producers on commit.
func requeueJobsOfTx(ctx context.Context, tx pgx.Tx, node string) (int64, error) {
	// The re-queue is not a completion by a former holder: lift the fence
	// for this transaction (the reaper may have held the job before).
	if _, err := tx.Exec(ctx, `SELECT set_config($1, '', true)`, NodeSetting); err != nil {
		return 0, fmt.Errorf("re-queue the jobs of node %s: %w", node, err)
	}
	var n int64
	err := tx.QueryRow(ctx, `WITH requeued AS (
			UPDATE river_job SET state = 'available', scheduled_at = now(),
				errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt,
					'error', 'node ' || $1 || ' stopped heartbeating (lease expired): job re-queued', 'trace', ''))
			WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1
			RETURNING queue
		), woken AS (
			SELECT pg_notify(current_schema() || '.' || $2, json_build_object('queue', queue)::text)
			FROM (SELECT DISTINCT queue FROM requeued) q
		)
		SELECT (SELECT count(*) FROM requeued) + 0 * (SELECT count(*) FROM woken)`, node, riverInsertChannel).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("re-queue the jobs of node %s: %w", node, err)
	}
	return n, nil
}

// NodeSetting is the session setting (sent at connect by WithNodeID) that
// names the node of a connection, for the job fence.
const NodeSetting = "picloud.node"

// fenceRiverJobSQL installs the fence on River's completions: River's own
// completer finishes a job with an UPDATE guarded only by state =
// 'running', so a node whose lease expired, whose job was re-queued and
// claimed again by another node, would otherwise finish (or fail) the
// other node's attempt. The trigger skips such an update when the session
// belongs to a node that held the job before but is not its last holder.
// Sessions without a node (tools, the reaper) are not fenced.
const fenceRiverJobSQL = `CREATE OR REPLACE FUNCTION picloud_fence_river_job() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	me text := coalesce(current_setting('picloud.node', true), '');
BEGIN
	IF me <> '' AND me = ANY (OLD.attempted_by)
		AND OLD.attempted_by[array_upper(OLD.attempted_by, 1)] IS DISTINCT FROM me THEN
		RETURN NULL; -- a former holder: the job was taken from it, leave the row
	END IF;
	RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER picloud_fence BEFORE UPDATE ON river_job FOR EACH ROW
	WHEN (OLD.state = 'running' AND NEW.state <> 'running')
	EXECUTE FUNCTION picloud_fence_river_job();`
