package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store/storetest"
)

// fenceArgs is the job of the fencing test.
type fenceArgs struct{}

func (fenceArgs) Kind() string { return "picloud_test_fence" }

// fenceWorker hands each job it claims to the test, waits for release,
// then completes it with CompleteJobTx as the invoker's Record does.
type fenceWorker struct {
	river.WorkerDefaults[fenceArgs]
	es      *EventStore
	claimed chan *river.Job[fenceArgs]
	release chan struct{}
	result  chan error
	once    sync.Once
}

// let releases the job (once), also on a failed test's way out.
func (w *fenceWorker) let() { w.once.Do(func() { close(w.release) }) }

func newFenceWorker(es *EventStore) *fenceWorker {
	return &fenceWorker{es: es, claimed: make(chan *river.Job[fenceArgs], 1),
		release: make(chan struct{}), result: make(chan error, 1)}
}

func (w *fenceWorker) Work(ctx context.Context, job *river.Job[fenceArgs]) error {
	w.claimed <- job
	<-w.release
	err := w.es.InTx(ctx, func(tx *Tx) error { return CompleteJobTx(ctx, tx, job) })
	w.result <- err
	return err
}

func fenceQueue(t *testing.T, s *Store, id string, w *fenceWorker) *Queue {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	q, err := s.Events().NewQueue(QueueConfig{ID: id, Name: "fence", MaxWorkers: 1, Workers: workers,
		FetchPollInterval: 50 * time.Millisecond, JobTimeout: time.Minute, RescueAfter: time.Hour,
		Retention: time.Hour, MaxAttempts: 5})
	require.NoError(t, err)
	return q
}

// TestCompleteJobTx_OnlyTheCurrentHolderCompletes: node a claims a job and
// stalls past its lease; node b reaps a, which re-queues the job, and
// claims it. When a wakes up, its completion is refused (ErrFenced, its
// transaction rolls back) and River's own completer on a leaves b's
// attempt running; b's completion is accepted.
func TestCompleteJobTx_OnlyTheCurrentHolderCompletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := storetest.NewDB(t)
	sa, err := Open(ctx, url, hclog.NewNullLogger(), WithNodeID("node-a"))
	require.NoError(t, err)
	t.Cleanup(sa.Close)
	sb, err := Open(ctx, url, hclog.NewNullLogger(), WithNodeID("node-b"))
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	require.NoError(t, sa.Events().MigrateQueue(ctx))

	wa, wb := newFenceWorker(sa.Events()), newFenceWorker(sb.Events())
	qa, qb := fenceQueue(t, sa, "node-a", wa), fenceQueue(t, sb, "node-b", wb)
	require.NoError(t, sa.Events().InTx(ctx, func(tx *Tx) error { return qa.InsertTx(ctx, tx, fenceArgs{}, &river.InsertOpts{Queue: "fence"}) }))

	require.NoError(t, qa.Start(ctx))
	stopA := func() { _ = qa.Stop(ctx) }
	defer stopA()
	defer wa.let()
	ja := <-wa.claimed
	require.Equal(t, 1, ja.Attempt)

	// a stops heartbeating: its lease (1µs) expires and b reaps it.
	_, _, err = sa.Heartbeat(ctx, Node{ID: "node-a", Roles: []string{"data"}, StartedAt: time.Now(), Lease: time.Microsecond})
	require.NoError(t, err)
	var dead []string
	require.Eventually(t, func() bool {
		dead, _, err = sb.Heartbeat(ctx, Node{ID: "node-b", Roles: []string{"data"}, StartedAt: time.Now(), Lease: time.Minute})
		return err == nil && len(dead) == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"node-a"}, dead)
	reaped, requeued, err := sb.ReapNode(ctx, "node-a")
	require.NoError(t, err)
	require.True(t, reaped)
	require.Equal(t, int64(1), requeued)
	require.Equal(t, "available", jobState(t, sb, ja.ID).state)

	// b claims the re-queued job (a is busy: one worker).
	require.NoError(t, qb.Start(ctx))
	defer func() { _ = qb.Stop(ctx) }()
	defer wb.let()
	jb := <-wb.claimed
	require.Equal(t, ja.ID, jb.ID)
	require.Equal(t, 2, jb.Attempt)

	// a wakes up: refused; River's completer on a (flushed by Stop) does
	// not touch b's attempt.
	wa.let()
	require.True(t, errors.Is(<-wa.result, ErrFenced), "a's completion must be fenced")
	stopA()
	st := jobState(t, sb, jb.ID)
	require.Equal(t, "running", st.state, "a former holder changed the job b is running")
	require.Equal(t, 2, st.attempt)

	// b, the holder, completes it.
	wb.let()
	require.NoError(t, <-wb.result)
	require.Equal(t, "completed", jobState(t, sb, jb.ID).state)
}

type jobRow struct {
	state   string
	attempt int
}

func jobState(t *testing.T, s *Store, id int64) jobRow {
	t.Helper()
	var r jobRow
	require.NoError(t, s.pool.QueryRow(context.Background(),
		`SELECT state::text, attempt FROM river_job WHERE id = $1`, id).Scan(&r.state, &r.attempt))
	return r
}
