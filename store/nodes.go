package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Node is one `picloud serve` process of the cluster, as it registered
// itself in the nodes table.
type Node struct {
	// ID is unique per process start (River's client id on that node).
	ID string
	// Address is where the node can be reached (--advertise).
	Address string
	// Roles are "control", "data" or both.
	Roles     []string
	Version   string
	StartedAt time.Time
	// HeartbeatAt is the database's clock at the node's last heartbeat.
	HeartbeatAt time.Time
	// Lease: a node whose heartbeat is older than this is dead.
	Lease time.Duration
	// Workers is the node's worker processes, InFlight its calls running
	// now, Load its 1-minute load average.
	Workers  int
	InFlight int
	Load     float64
	// Pool is the node's worker pool status as the API shows it (JSON).
	Pool json.RawMessage
	// Alive: the heartbeat is within the lease (read time only).
	Alive bool
}

// Heartbeat upserts n's row with a fresh heartbeat (the database's clock)
// and returns the ids of the other nodes whose lease expired. inserted is
// true when the row did not exist: the first heartbeat, or the node's
// lease expired and another node reaped it meanwhile.
func (s *Store) Heartbeat(ctx context.Context, n Node) (dead []string, inserted bool, err error) {
	pool := n.Pool
	if len(pool) == 0 {
		pool = json.RawMessage(`{}`)
	}
	err = s.pool.QueryRow(ctx, `WITH me AS (
		INSERT INTO nodes (id, address, roles, version, started_at, heartbeat_at, lease, workers, in_flight, load, pool)
		VALUES ($1, $2, $3, $4, $5, now(), $6 * interval '1 microsecond', $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), address = EXCLUDED.address,
			roles = EXCLUDED.roles, lease = EXCLUDED.lease, workers = EXCLUDED.workers,
			in_flight = EXCLUDED.in_flight, load = EXCLUDED.load, pool = EXCLUDED.pool
		RETURNING (xmax = 0) AS inserted
	)
	SELECT (SELECT inserted FROM me),
		coalesce((SELECT array_agg(id ORDER BY id) FROM nodes WHERE id <> $1 AND heartbeat_at < now() - lease), '{}')`,
		n.ID, n.Address, n.Roles, n.Version, n.StartedAt, n.Lease.Microseconds(),
		n.Workers, n.InFlight, n.Load, pool).Scan(&inserted, &dead)
	if err != nil {
		return nil, false, interpretError(err, "heartbeat node "+n.ID)
	}
	return dead, inserted, nil
}

// ReapNode deletes the row of node id if its lease is still expired and,
// in the same transaction, re-queues the jobs it was running (they become
// available at once, their attempt counted as failed). Several nodes may
// reap at once: one does it, the others find nothing. reaped is false
// when the node was already gone or came back.
func (s *Store) ReapNode(ctx context.Context, id string) (reaped bool, requeued int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM nodes WHERE id = $1 AND heartbeat_at < now() - lease`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		reaped = true
		requeued, err = requeueJobsOfTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return false, 0, interpretError(err, "reap node "+id)
	}
	return reaped, requeued, nil
}

// LeaveNode deletes node id's row (a clean shutdown: its jobs finished).
func (s *Store) LeaveNode(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, id); err != nil {
		return interpretError(err, "remove node "+id)
	}
	return nil
}

// ListNodes returns every registered node, alive or not yet reaped, by
// roles then id.
func (s *Store) ListNodes(ctx context.Context) ([]Node, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, address, roles, version, started_at, heartbeat_at,
			(extract(epoch FROM lease) * 1000000)::bigint, workers, in_flight, load, pool,
			heartbeat_at >= now() - lease
		FROM nodes ORDER BY id`)
	if err != nil {
		return nil, interpretError(err, "list nodes")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		var leaseUS int64
		err := r.Scan(&n.ID, &n.Address, &n.Roles, &n.Version, &n.StartedAt, &n.HeartbeatAt,
			&leaseUS, &n.Workers, &n.InFlight, &n.Load, &n.Pool, &n.Alive)
		n.Lease = time.Duration(leaseUS) * time.Microsecond
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", interpretError(err, "read node"))
	}
	return out, nil
}
