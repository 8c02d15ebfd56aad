package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// QueueConfig configures a Queue: the River client that works PiCloud's
// jobs (async invocations, deliveries) on the store's pool.
type QueueConfig struct {
	// ID names this node's client (River's default when empty).
	ID string
	// Name is the one River queue used; MaxWorkers the jobs this node
	// works at once.
	Name       string
	MaxWorkers int
	// Workers are the job kinds this node works.
	Workers *river.Workers
	Logger  *slog.Logger
	// FetchPollInterval is the fallback poll for new jobs (they normally
	// arrive by LISTEN/NOTIFY on River's insert channel).
	FetchPollInterval time.Duration
	// JobTimeout backstops one job; RescueAfter retries a job whose node
	// died; Retention keeps finished jobs; MaxAttempts is the default.
	JobTimeout  time.Duration
	RescueAfter time.Duration
	Retention   time.Duration
	MaxAttempts int
}

// Queue is the job queue (River on PostgreSQL). Jobs are inserted in the
// store's transactions (*Tx) so they commit with the rows they belong to.
type Queue struct {
	client *river.Client[pgx.Tx]
	name   string
}

// NewQueue returns the queue over s's pool; Start works jobs.
func (s *EventStore) NewQueue(cfg QueueConfig) (*Queue, error) {
	rc, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		ID:                          cfg.ID,
		Logger:                      cfg.Logger,
		Workers:                     cfg.Workers,
		Queues:                      map[string]river.QueueConfig{cfg.Name: {MaxWorkers: cfg.MaxWorkers}},
		FetchCooldown:               5 * time.Millisecond,
		FetchPollInterval:           cfg.FetchPollInterval,
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        cfg.RescueAfter,
		CompletedJobRetentionPeriod: cfg.Retention,
		CancelledJobRetentionPeriod: cfg.Retention,
		DiscardedJobRetentionPeriod: cfg.Retention,
		MaxAttempts:                 cfg.MaxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("create river client: %w", err)
	}
	return &Queue{client: rc, name: cfg.Name}, nil
}

// ID is this node's client id.
func (q *Queue) ID() string { return q.client.ID() }

// Start works jobs until Stop.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	return nil
}

// Stop lets running jobs finish, until ctx ends; then it cancels them.
func (q *Queue) Stop(ctx context.Context) error {
	if err := q.client.Stop(ctx); err != nil {
		ctx2, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = q.client.StopAndCancel(ctx2)
		return fmt.Errorf("stop river: %w", err)
	}
	return nil
}

// Subscribe returns River's events of kinds (sent once the job's new
// state is committed) and the function that ends the subscription.
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.client.SubscribeConfig(&river.SubscribeConfig{ChanSize: 10000, Kinds: kinds})
}

// InsertTx queues one job inside tx.
func (q *Queue) InsertTx(ctx context.Context, tx *Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := q.client.InsertTx(ctx, tx.tx, args, opts); err != nil {
		return fmt.Errorf("queue %s job: %w", args.Kind(), err)
	}
	return nil
}

// InsertManyTx queues jobs inside tx.
func (q *Queue) InsertManyTx(ctx context.Context, tx *Tx, params []river.InsertManyParams) error {
	if len(params) == 0 {
		return nil
	}
	if _, err := q.client.InsertManyTx(ctx, tx.tx, params); err != nil {
		return fmt.Errorf("queue %d jobs: %w", len(params), err)
	}
	return nil
}

// CompleteJobTx marks job completed inside tx, so the job is done exactly
// when what it wrote commits. It is fenced: only the job's current holder
// (the node and attempt that claimed it, still running) may complete it;
// otherwise it returns an error wrapping ErrFenced and tx must roll back,
// since the job was re-queued when this node's lease expired. It is one
// statement (the fence and the completion in one guarded UPDATE), where
// river.JobCompleteTx would need a second one for the fence; River's
// completer then finds the job no longer running and leaves it.
func CompleteJobTx[T river.JobArgs](ctx context.Context, tx *Tx, job *river.Job[T]) error {
	holder := ""
	if n := len(job.AttemptedBy); n > 0 {
		holder = job.AttemptedBy[n-1]
	}
	return completeHeldJobTx(ctx, tx.tx, job.ID, job.Attempt, holder)
}

// riverMigrateLockKey serializes River migrations across nodes.
const riverMigrateLockKey int64 = 0x7069636c6f756d // "picloum"

// MigrateQueue creates or updates River's tables (rivermigrate), under an
// advisory lock so nodes starting together do not race.
func (s *EventStore) MigrateQueue(ctx context.Context) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(s.pool), nil)
	if err != nil {
		return fmt.Errorf("prepare river migrations: %w", err)
	}
	// River's migrations cannot all run in one transaction (one adds an
	// enum value that a later one uses), so a session lock on a separate
	// connection serializes them instead.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection for river migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", riverMigrateLockKey); err != nil {
		return fmt.Errorf("lock river migrations: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", riverMigrateLockKey)
	}()
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply river migrations: %w", err)
	}
	if _, err := conn.Exec(ctx, fenceRiverJobSQL); err != nil {
		return fmt.Errorf("install the job fence on river_job: %w", err)
	}
	return nil
}
