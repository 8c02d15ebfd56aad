package events

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
)

// DefaultIdleAfter is how long River runs without work before the runner
// stops it.
const DefaultIdleAfter = 30 * time.Second

// riverRunner scales River to zero: an idle River client still wakes up
// many times a second (its completer ticks every 50 ms) and queries the
// database every few seconds (leader election, scheduler, rescuer), which
// is most of what an idle server would cost. So the runner stops the
// client once no job ran for IdleAfter and none is due soon, and starts it
// again when a job is inserted anywhere in the cluster (the listener hears
// River's insert notification), when the earliest pending job falls due
// (a retry, a snoozed job), or when a running job of another node would
// need rescuing.
type riverRunner struct {
	s    *Service
	wake chan struct{} // capacity 1

	active atomic.Int64  // jobs working now
	worked atomic.Uint64 // jobs started, ever

	// isRunning mirrors running for observers (tests, metrics).
	isRunning atomic.Bool
	// fenced: this node lost its lease (it could not heartbeat), so it
	// must not claim jobs; River stays stopped until it is cleared.
	fenced atomic.Bool

	// Owned by run's goroutine.
	running  bool
	stopSubs func()
}

func newRiverRunner(s *Service) *riverRunner {
	return &riverRunner{s: s, wake: make(chan struct{}, 1)}
}

// poke says a job was inserted: start River if it sleeps.
func (r *riverRunner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// fence stops (true) or resumes (false) the claiming of jobs on this node.
func (r *riverRunner) fence(on bool) {
	if r.fenced.Swap(on) != on {
		r.poke()
	}
}

// begin and end bracket a job's work.
func (r *riverRunner) begin() { r.active.Add(1); r.worked.Add(1) }
func (r *riverRunner) end()   { r.active.Add(-1) }

// run starts River and keeps it running while there is work, until ctx
// ends; then it stops River (letting running jobs finish).
func (r *riverRunner) run(ctx context.Context) {
	log := r.s.log
	idleAfter := r.s.cfg.IdleAfter
	timer := time.NewTimer(idleAfter)
	defer timer.Stop()
	var lastWorked uint64
	start := func() {
		if r.running {
			return
		}
		if r.fenced.Load() {
			return // fence pokes again when it is lifted
		}
		if err := r.start(ctx); err != nil {
			if ctx.Err() == nil {
				log.Error("start river", "error", err)
			}
		}
		lastWorked = r.worked.Load()
		timer.Reset(idleAfter)
	}
	start()
	for {
		select {
		case <-ctx.Done():
			r.stop()
			return
		case <-r.wake:
			if r.fenced.Load() {
				if r.running {
					log.Warn("this node lost its lease: stopped claiming jobs")
					r.stop()
				}
				continue
			}
			start()
		case <-timer.C:
			if !r.running {
				start()
				continue
			}
			w := r.worked.Load()
			if r.active.Load() > 0 || w != lastWorked {
				lastWorked = w
				timer.Reset(idleAfter)
				continue
			}
			due, soon, err := r.s.st.NextRiverWork(ctx, queueName, idleAfter, r.s.cfg.RescueAfter)
			if err != nil || soon {
				timer.Reset(idleAfter)
				continue
			}
			select {
			case <-r.wake: // a job arrived meanwhile
				timer.Reset(idleAfter)
				continue
			default:
			}
			r.stop()
			if !due.IsZero() {
				d := max(time.Until(due)+10*time.Millisecond, 0)
				timer.Reset(d)
				log.Debug("river idle: stopped", "wake_in", d.String())
			} else {
				log.Debug("river idle: stopped until a job is inserted")
			}
		}
	}
}

func (r *riverRunner) start(ctx context.Context) error {
	failed, unsubscribe := r.s.queue.Subscribe(river.EventKindJobFailed, river.EventKindJobSnoozed)
	if err := r.s.queue.Start(context.WithoutCancel(ctx)); err != nil {
		unsubscribe()
		return err
	}
	subCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.s.wakeForRetries(subCtx, failed) }()
	r.stopSubs = func() { cancel(); wg.Wait(); unsubscribe() }
	r.running = true
	r.isRunning.Store(true)
	return nil
}

// stop stops River, giving running jobs 10 s to finish before cancelling
// them (they are retried).
func (r *riverRunner) stop() {
	if !r.running {
		return
	}
	r.running = false
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := r.s.queue.Stop(ctx); err != nil {
		r.s.log.Warn("jobs did not stop in time; cancelled them", "error", err)
	}
	r.stopSubs()
	r.isRunning.Store(false) // only once River has stopped fetching
}
