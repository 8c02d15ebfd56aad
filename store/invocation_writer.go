package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/functions"
)

// InvocationWriterConfig configures an InvocationWriter. Zero fields take
// the defaults.
type InvocationWriterConfig struct {
	Logger hclog.Logger
	// BufferSize bounds the records waiting to be written (default
	// 10,000); beyond it Add drops.
	BufferSize int
	// BatchSize is the most records one statement writes (default 500); a
	// full batch is written at once.
	BatchSize int
	// FlushDelay is how long the first buffered record waits for company
	// before its batch is written (default 100ms).
	FlushDelay time.Duration
	// WriteTimeout bounds one batch's statement (default 10s).
	WriteTimeout time.Duration
	// AggregateDelay is how long the per-minute aggregates (Count)
	// accumulate in memory before they are added to the database
	// (default 1s).
	AggregateDelay time.Duration
}

// InvocationWriter writes invocation records in batches, off the request
// path. Add never blocks: when the buffer is full the record is dropped and
// counted. It also keeps the per-function, per-minute aggregates of every
// run (Count), adding them to the database in one round trip per
// AggregateDelay, and before every batch of records. Nothing runs while
// nothing is buffered (a timer is armed only when a record or a count
// arrives).
type InvocationWriter struct {
	store  *Store
	cfg    InvocationWriterConfig
	logger hclog.Logger

	ch      chan functions.Invocation
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopped atomic.Bool

	agg     minuteAggregates
	aggWake chan struct{}

	dropped, failed, written atomic.Uint64
	aggFailed                atomic.Uint64

	startOnce, stopOnce sync.Once
}

// NewInvocationWriter returns a writer into s. Records added before Start
// are buffered.
func NewInvocationWriter(s *Store, cfg InvocationWriterConfig) *InvocationWriter {
	if cfg.Logger == nil {
		cfg.Logger = s.logger
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 10000
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.FlushDelay <= 0 {
		cfg.FlushDelay = 100 * time.Millisecond
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.AggregateDelay <= 0 {
		cfg.AggregateDelay = time.Second
	}
	return &InvocationWriter{
		store:   s,
		cfg:     cfg,
		logger:  cfg.Logger.Named("invocation_writer"),
		ch:      make(chan functions.Invocation, cfg.BufferSize),
		flushes: make(chan chan struct{}),
		aggWake: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Start starts the writing goroutine and returns.
func (w *InvocationWriter) Start(ctx context.Context) error {
	w.startOnce.Do(func() { go w.run(context.WithoutCancel(ctx)) })
	return nil
}

// Stop writes what is buffered and returns when it is written (or failed).
// Records added after Stop are dropped. Safe to call twice.
func (w *InvocationWriter) Stop() {
	w.stopOnce.Do(func() {
		w.stopped.Store(true)
		w.startOnce.Do(func() { go w.run(context.Background()) }) // never started: still flush
		close(w.stop)
		<-w.done
	})
}

// Add queues a record without blocking; it returns false if the record was
// dropped (buffer full, or the writer stopped).
func (w *InvocationWriter) Add(inv functions.Invocation) bool {
	if w.stopped.Load() {
		w.dropped.Add(1)
		return false
	}
	select {
	case w.ch <- inv:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// Count adds one finished run to the per-minute aggregates of function
// (the minute is the one at, its start, falls in). It never blocks and
// never touches the database; the writer adds the counts in batches.
func (w *InvocationWriter) Count(function string, at time.Time, d time.Duration, failed bool) {
	if w.stopped.Load() {
		w.aggFailed.Add(1)
		return
	}
	if w.agg.add(function, at, d, failed) {
		select {
		case w.aggWake <- struct{}{}:
		default:
		}
	}
}

// AggregatesFailed returns the number of runs whose counts were lost
// (their batch could not be written, or they came after Stop).
func (w *InvocationWriter) AggregatesFailed() uint64 { return w.aggFailed.Load() }

// Flush writes every record and count added before the call and returns once it is
// written (or failed), or when ctx ends. The writer must be started.
func (w *InvocationWriter) Flush(ctx context.Context) error {
	req := make(chan struct{})
	select {
	case w.flushes <- req:
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dropped returns the number of records dropped because the buffer was
// full or the writer stopped.
func (w *InvocationWriter) Dropped() uint64 { return w.dropped.Load() }

// Failed returns the number of records lost because their batch could not
// be written.
func (w *InvocationWriter) Failed() uint64 { return w.failed.Load() }

// Written returns the number of records written.
func (w *InvocationWriter) Written() uint64 { return w.written.Load() }

// Buffered returns the number of records waiting to be written.
func (w *InvocationWriter) Buffered() int { return len(w.ch) }

func (w *InvocationWriter) run(ctx context.Context) {
	defer close(w.done)
	batch := make([]functions.Invocation, 0, w.cfg.BatchSize)
	var timer *time.Timer
	var timerC <-chan time.Time
	disarm := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
	}
	// While stopping, once a write fails the rest is counted as failed
	// rather than each batch waiting out its timeout.
	stopping, broken := false, false
	var aggTimer *time.Timer
	var aggTimerC <-chan time.Time
	flushAgg := func() {
		if aggTimer != nil {
			aggTimer.Stop()
			aggTimer, aggTimerC = nil, nil
		}
		if broken {
			for _, r := range w.agg.take() {
				w.aggFailed.Add(uint64(r.Calls))
			}
			return
		}
		w.writeAggregates(ctx)
	}
	flush := func() {
		disarm()
		if len(batch) == 0 {
			return
		}
		// The counts first: a record one can read is counted too
		// (Count comes before Add on the invoker's side).
		flushAgg()
		if broken {
			w.failed.Add(uint64(len(batch)))
		} else if !w.write(ctx, batch) && stopping {
			broken = true
		}
		batch = batch[:0]
	}
	// drain moves what is buffered now into batches and writes them.
	drain := func() {
		defer flushAgg()
		for {
			select {
			case inv := <-w.ch:
				batch = append(batch, inv)
				if len(batch) >= w.cfg.BatchSize {
					flush()
				}
			default:
				flush()
				return
			}
		}
	}
	for {
		select {
		case inv := <-w.ch:
			batch = append(batch, inv)
			if len(batch) >= w.cfg.BatchSize {
				flush()
			} else if timer == nil {
				timer = time.NewTimer(w.cfg.FlushDelay)
				timerC = timer.C
			}
		case <-timerC:
			timer, timerC = nil, nil
			flush()
		case <-w.aggWake:
			if aggTimer == nil {
				aggTimer = time.NewTimer(w.cfg.AggregateDelay)
				aggTimerC = aggTimer.C
			}
		case <-aggTimerC:
			aggTimer, aggTimerC = nil, nil
			flushAgg()
		case req := <-w.flushes:
			drain()
			close(req)
		case <-w.stop:
			stopping = true
			drain()
			return
		}
	}
}

// write writes one batch and reports whether the database took it. A batch
// refused for a bad record is retried record by record, so one bad record
// does not cost the others.
func (w *InvocationWriter) write(ctx context.Context, batch []functions.Invocation) bool {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	defer cancel()
	err := w.store.InsertInvocations(ctx, batch)
	if err == nil {
		w.written.Add(uint64(len(batch)))
		return true
	}
	if errors.Is(err, ErrInvalid) && len(batch) > 1 {
		for i := range batch {
			w.write(ctx, batch[i:i+1])
		}
		return true
	}
	w.failed.Add(uint64(len(batch)))
	w.logger.Warn("invocation records lost", "count", len(batch), "error", err)
	return errors.Is(err, ErrInvalid) // the database answered: it works
}

// writeAggregates adds the counts taken from memory to the database.
func (w *InvocationWriter) writeAggregates(ctx context.Context) {
	rows := w.agg.take()
	if len(rows) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	defer cancel()
	if err := w.store.AddInvocationMinutes(ctx, rows); err != nil {
		var n int64
		for _, r := range rows {
			n += r.Calls
		}
		w.aggFailed.Add(uint64(n))
		w.logger.Warn("invocation aggregates lost", "runs", n, "error", err)
	}
}
