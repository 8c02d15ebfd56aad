package events

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// River alone, for the side-by-side figure of bench/events.md: the same
// PostgreSQL, the same number of inserting goroutines and of job workers
// as the events benchmark, a trivial job (its worker counts and returns),
// no PiCloud code in the path.

// benchRiverArgs is the trivial job.
type benchRiverArgs struct {
	I int `json:"i"`
}

func (benchRiverArgs) Kind() string { return "bench_river" }

type benchRiverWorker struct {
	river.WorkerDefaults[benchRiverArgs]
	done   atomic.Int64
	target int64
	all    chan struct{}
}

func (w *benchRiverWorker) Work(context.Context, *river.Job[benchRiverArgs]) error {
	if w.done.Add(1) == w.target {
		close(w.all)
	}
	return nil
}

// riverBenchConfig is one River-alone run.
type riverBenchConfig struct {
	events, inserters, workers int
	batch                      int           // jobs per InsertMany; 1 = Insert
	fetchCooldown              time.Duration // 0 = River's default (100 ms)
}

// benchRiverAlone inserts cfg.events jobs from cfg.inserters goroutines
// into a fresh River database and returns the rate from the first insert
// to the last job worked.
func benchRiverAlone(t *testing.T, cfg riverBenchConfig) (rate float64, elapsed time.Duration) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, newRiverDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := &benchRiverWorker{target: int64(cfg.events), all: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.workers}},
		Workers:       workers,
		FetchCooldown: cfg.fetchCooldown,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	}()
	time.Sleep(500 * time.Millisecond) // leader election, producers up
	batches := (cfg.events + cfg.batch - 1) / cfg.batch
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < cfg.inserters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := p; b < batches; b += cfg.inserters {
				lo, hi := b*cfg.batch, min((b+1)*cfg.batch, cfg.events)
				if cfg.batch == 1 {
					if _, err := client.Insert(ctx, benchRiverArgs{I: lo}, nil); err != nil {
						t.Errorf("insert: %v", err)
						return
					}
					continue
				}
				params := make([]river.InsertManyParams, 0, hi-lo)
				for i := lo; i < hi; i++ {
					params = append(params, river.InsertManyParams{Args: benchRiverArgs{I: i}})
				}
				if _, err := client.InsertMany(ctx, params); err != nil {
					t.Errorf("insert many: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-w.all:
	case <-time.After(5 * time.Minute):
		t.Fatalf("river alone: only %d of %d jobs worked", w.done.Load(), cfg.events)
	}
	elapsed = time.Since(start)
	return float64(cfg.events) / elapsed.Seconds(), elapsed
}

// TestBenchRiverAlone reports River's own insert+work throughput on this
// machine and database: single inserts and InsertMany batches, with
// River's default fetch cooldown (100 ms) and with PiCloud's (5 ms).
func TestBenchRiverAlone(t *testing.T) {
	benchEnabled(t)
	n, pubs := benchSize(t)
	for _, c := range []riverBenchConfig{
		{events: n, inserters: pubs, workers: DefaultWorkers, batch: 1},
		{events: n, inserters: pubs, workers: DefaultWorkers, batch: 1, fetchCooldown: 5 * time.Millisecond},
		{events: n, inserters: pubs, workers: DefaultWorkers, batch: 100},
		{events: n, inserters: pubs, workers: DefaultWorkers, batch: 100, fetchCooldown: 5 * time.Millisecond},
	} {
		rate, d := benchRiverAlone(t, c)
		t.Logf("river alone: %d jobs, %d inserters, batch %d, %d workers, fetch cooldown %s: %.0f jobs/s (%.2fs)",
			c.events, c.inserters, c.batch, c.workers, cooldownName(c.fetchCooldown), rate, d.Seconds())
	}
}

func cooldownName(d time.Duration) string {
	if d == 0 {
		return "100ms (default)"
	}
	return d.String()
}
