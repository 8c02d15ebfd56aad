package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// pool holds the workers of one function version and the requests waiting
// for a slot on them. Every field is guarded by Supervisor.mu.
type pool struct {
	fn       functions.Spec
	workers  []*worker // starting, ready and stopping workers, in start order
	starting int
	queue    []*waiter // FIFO
	retired  bool      // replaced or removed: no new calls, no new workers

	// After a failed start, no new start before retryAt (doubling backoff);
	// calls that would wait for one get lastStartErr at once.
	startFails   int
	retryAt      time.Time
	lastStartErr *InvokeError
	retryTimer   Timer

	// warmStarved: min_warm was not met for lack of node capacity (logged
	// once until a worker starts).
	warmStarved bool
}

// Backoff of worker starts after failures.
const (
	startBackoffMin = 100 * time.Millisecond
	startBackoffMax = 30 * time.Second
)

// waiter is one request queued for a slot.
type waiter struct {
	ch chan grant // buffered 1: written once, under Supervisor.mu
}

type grant struct {
	w    *worker
	err  error
	cold bool // the call is w's first (takeLocked)
}

type workerState int

const (
	workerStarting workerState = iota
	workerReady
	workerStopping
)

// worker is one worker process of a pool. Fields are guarded by
// Supervisor.mu except where noted.
type worker struct {
	id        uint64
	pool      *pool
	proc      process // nil while starting
	cg        *workerCgroup
	state     workerState
	retiring  bool // its pool was replaced: stop once its calls finish
	inflight  int
	calls     uint64
	startedAt time.Time
	lastUsed  time.Time
	idleTimer Timer
	idleGen   uint64

	// stopReason is set when the supervisor stops the worker on purpose
	// ("idle", "evicted", "replaced", "removed", "stopped", "timeout").
	stopReason string
	// deathErr is what in-flight calls get when the worker dies; set
	// before dead is closed.
	deathErr   *InvokeError
	exitReason string
	dead       chan struct{}
}

// free reports whether w can take one more call.
func (w *worker) free() bool {
	return w.state == workerReady && !w.retiring && w.inflight < w.pool.fn.Limits.Concurrency
}

func (w *worker) statusLocked() WorkerStatus {
	st := WorkerStatus{
		Function:       w.pool.fn.Name,
		Version:        w.pool.fn.Version,
		CallsServed:    w.calls,
		InFlight:       w.inflight,
		StartedAt:      w.startedAt,
		LastUsed:       w.lastUsed,
		LimitsEnforced: w.cg != nil,
	}
	if w.proc != nil {
		st.PID = w.proc.PID()
		if sp, ok := w.proc.(interface{ sandboxStatus() WorkerSandbox }); ok {
			st.Sandbox = sp.sandboxStatus()
		}
	}
	switch {
	case w.state == workerStarting:
		st.State = "starting"
	case w.state == workerStopping || w.retiring:
		st.State = "stopping"
	case w.inflight > 0:
		st.State = "busy"
	default:
		st.State = "idle"
	}
	return st
}

// live counts the pool's ready workers not on their way out.
func (p *pool) live() int {
	n := 0
	for _, w := range p.workers {
		if w.state == workerReady && !w.retiring {
			n++
		}
	}
	return n
}

// active counts the workers that count against the pool's max_workers.
func (p *pool) active() int {
	n := 0
	for _, w := range p.workers {
		if w.state != workerStopping && !w.retiring {
			n++
		}
	}
	return n
}

// failQueue answers every queued request with err.
func (p *pool) failQueue(err error) {
	for _, wt := range p.queue {
		wt.ch <- grant{err: err}
	}
	p.queue = nil
}

// poolForLocked returns the pool serving fn, creating it, or replacing the
// pool of an older version. A call for an older version than the current
// one is served by the current one: versions only move forward.
func (s *Supervisor) poolForLocked(fn functions.Spec) *pool {
	p := s.pools[fn.Name]
	if p != nil && fn.Version <= p.fn.Version {
		return p
	}
	np := &pool{fn: fn}
	s.pools[fn.Name] = np
	if p != nil {
		np.queue = p.queue // queued requests move to the new version
		p.queue = nil
		s.retireLocked(p, "replaced")
		s.log.Info("function replaced", "function", fn.Name, "old_version", p.fn.Version, "version", fn.Version)
	}
	s.dispatchLocked(np)
	return np
}

// retireLocked takes p out of service: idle workers stop now, busy ones when
// their calls finish, starting ones once started.
func (s *Supervisor) retireLocked(p *pool, reason string) {
	p.retired = true
	for _, w := range p.workers {
		w.retiring = true
		if w.stopReason == "" {
			w.stopReason = reason
		}
		if w.state == workerReady && w.inflight == 0 {
			s.stopWorkerLocked(w, reason)
		}
	}
	if len(p.workers) > 0 {
		s.draining[p] = true
	}
	s.dispatchAllLocked() // a stopping worker may free node capacity later
}

// acquire takes a slot on a worker of fn's pool, waiting at most the queue
// timeout.
func (s *Supervisor) acquire(ctx context.Context, fn functions.Spec) (*worker, error) {
	g, err := s.acquireGrant(ctx, fn)
	if g.w != nil {
		reportStart(ctx, g.cold)
	}
	return g.w, err
}

// acquireGrant is acquire, saying whether the call is the worker's first.
func (s *Supervisor) acquireGrant(ctx context.Context, fn functions.Spec) (grant, error) {
	if err := fn.Limits.Validate(); err != nil {
		return grant{}, err
	}
	if err := ctx.Err(); err != nil {
		return grant{}, err
	}
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return grant{}, err
	}
	p := s.poolForLocked(fn)
	if len(p.queue) == 0 {
		for _, w := range p.workers {
			if w.free() {
				cold := s.takeLocked(w)
				s.mu.Unlock()
				return grant{w: w, cold: cold}, nil
			}
		}
	}
	wt := &waiter{ch: make(chan grant, 1)}
	p.queue = append(p.queue, wt)
	s.dispatchLocked(p)
	s.mu.Unlock()

	began := s.clock.Now()
	expired := make(chan struct{}, 1)
	arm := func() Timer {
		return s.clock.AfterFunc(s.queueTO, func() {
			select {
			case expired <- struct{}{}:
			default:
			}
		})
	}
	timer := arm()
	defer func() { timer.Stop() }()
	var err error
wait:
	for {
		select {
		case g := <-wt.ch:
			s.obs.Queued(fn.Name, s.clock.Now().Sub(began))
			return g, g.err
		case <-expired:
			// Waiting for a cold start is not overload: the start is
			// bounded by itself. Only a wait for busy workers times out.
			s.mu.Lock()
			starting := s.waiterPoolStartingLocked(wt)
			s.mu.Unlock()
			if starting {
				timer = arm()
				continue
			}
			err = ErrOverloaded
			break wait
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		}
	}

	s.mu.Lock()
	// The waiter may have moved to a newer pool; find and drop it there.
	for _, q := range s.allPoolsLocked() {
		if i := slices.Index(q.queue, wt); i >= 0 {
			q.queue = slices.Delete(q.queue, i, i+1)
			s.mu.Unlock()
			if errors.Is(err, ErrOverloaded) {
				s.obs.Overloaded(fn.Name)
			}
			return grant{}, err
		}
	}
	s.mu.Unlock()
	// Granted while we gave up: a slot is a slot, unless ctx ended.
	g := <-wt.ch
	if g.err == nil && ctx.Err() != nil {
		s.release(g.w)
		return grant{}, ctx.Err()
	}
	return g, g.err
}

// waiterPoolStartingLocked reports whether the pool where wt waits is
// starting a worker.
func (s *Supervisor) waiterPoolStartingLocked(wt *waiter) bool {
	for _, q := range s.allPoolsLocked() {
		if slices.Contains(q.queue, wt) {
			return q.starting > 0
		}
	}
	return false
}

// takeLocked gives one slot of w to a call, and reports whether it is
// w's first call (a cold start: w was started or specialised for it).
func (s *Supervisor) takeLocked(w *worker) (cold bool) {
	cold = w.calls == 0 && w.inflight == 0
	w.inflight++
	w.lastUsed = s.clock.Now()
	s.calls.Add(1)
	if w.idleTimer != nil {
		w.idleTimer.Stop()
		w.idleTimer = nil
	}
	w.idleGen++
	return cold
}

// release returns a call's slot.
func (s *Supervisor) release(w *worker) {
	s.mu.Lock()
	w.inflight--
	w.calls++
	w.lastUsed = s.clock.Now()
	if w.inflight == 0 && w.state == workerReady {
		if w.retiring {
			s.stopWorkerLocked(w, w.stopReason)
		} else {
			s.armIdleLocked(w)
		}
	}
	s.dispatchLocked(w.pool)
	if s.starved && w.inflight == 0 {
		// A pool waits for node capacity: this worker became evictable.
		s.starved = false
		s.dispatchAllLocked()
	}
	s.mu.Unlock()
	s.calls.Done()
}

// call runs req on w and turns its failures into *InvokeError.
func (s *Supervisor) call(ctx context.Context, w *worker, req *protocol.Request) (*protocol.Response, error) {
	lim := w.pool.fn.Limits
	deadline, budget := callDeadline(ctx, time.Now(), lim.Timeout)
	if budget <= 0 {
		// The caller's own deadline has passed.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, context.DeadlineExceeded
	}
	// The backstop: a call the worker does not end itself (a Go built-in
	// the Lua VM cannot interrupt, a wedged worker) gets the worker killed.
	var timedOut atomic.Bool
	backstop := s.clock.AfterFunc(budget+backstopGrace(budget), func() {
		timedOut.Store(true)
		s.mu.Lock()
		s.log.Warn("call ran past its timeout: killing the worker", "function", w.pool.fn.Name, "pid", w.proc.PID(), "timeout", budget)
		if w.state == workerReady {
			w.stopReason = "timeout"
			s.stopWorkerLocked(w, "timeout")
		}
		s.mu.Unlock()
		w.proc.Kill()
	})
	// Host calls of this call (outbound HTTP) learn from the context what
	// the worker cannot be trusted to say: the version, its grants, the
	// deadline, the worker.
	fn := w.pool.fn
	ctx = protocol.WithCallScope(ctx, &protocol.CallScope{
		Function: fn.Name, Version: fn.Version, AllowNet: fn.AllowNet, Deadline: deadline, Worker: w.id,
	})
	resp, err := w.proc.Call(ctx, req, deadline)
	backstop.Stop()
	if err == nil {
		return resp, nil
	}
	var ce *protocol.CallError
	if errors.As(err, &ce) {
		return nil, callError(ce, lim, budget)
	}
	if timedOut.Load() {
		s.awaitDeath(w)
		return nil, timeoutError(budget)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller gave up; the worker may still be running the call.
		// The data connection was dropped; the worker stays in service.
		return nil, ctxErr
	}
	// The transport broke: the worker died. Say why.
	return nil, s.awaitDeath(w)
}

// callDeadline decides a call's deadline, once, for the whole path: the
// function's timeout from now, or the caller's deadline if that is
// earlier. The deadline travels to the worker, which ends the call there;
// budget (the time from now to the deadline) words the timeout error and
// times the backstop. budget <= 0 means the caller's deadline has passed.
func callDeadline(ctx context.Context, now time.Time, timeout time.Duration) (deadline time.Time, budget time.Duration) {
	deadline = now.Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	return deadline, deadline.Sub(now)
}

// awaitDeath waits for w to be reaped (killing it if it lingers after its
// transport broke) and returns why it died.
func (s *Supervisor) awaitDeath(w *worker) *InvokeError {
	kill := s.clock.AfterFunc(2*time.Second, w.proc.Kill)
	<-w.dead
	kill.Stop()
	return w.deathErr
}

// backstopGrace is how long past its timeout a call may run before the
// supervisor kills its worker.
func backstopGrace(timeout time.Duration) time.Duration {
	return max(500*time.Millisecond, timeout/10)
}

// timeoutError words a call's timeout; d is rounded to the millisecond (it
// is the function's timeout unless the caller's deadline came first).
func timeoutError(d time.Duration) *InvokeError {
	return &InvokeError{Kind: KindTimeout, Message: "timed out after " + d.Round(time.Millisecond).String()}
}

func memoryError(limit int64) *InvokeError {
	return &InvokeError{Kind: KindMemory, Message: fmt.Sprintf("memory limit of %s exceeded", formatBytes(limit))}
}

// callError converts a failure the worker reported into an *InvokeError;
// budget is the call's time from its start to its deadline.
func callError(ce *protocol.CallError, lim functions.Limits, budget time.Duration) *InvokeError {
	var e *InvokeError
	switch ce.Kind {
	case protocol.KindTimeout:
		e = timeoutError(budget)
	case protocol.KindMemory:
		e = memoryError(lim.MemoryBytes)
	default:
		e = &InvokeError{Kind: KindScript, Message: ce.Message, Traceback: ce.Traceback}
	}
	e.Logs, e.LogsDropped = ce.Logs, ce.LogsDropped
	return e
}

// formatBytes writes sizes as users write them: "64 MiB", "1.5 GiB".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// dispatchLocked hands free slots of p to its queue in order and starts a
// worker when requests wait and none is starting (single flight), or when
// the pool is below min_warm.
func (s *Supervisor) dispatchLocked(p *pool) {
	if s.state != stateStarted {
		return
	}
	for len(p.queue) > 0 {
		var free *worker
		for _, w := range p.workers {
			if w.free() {
				free = w
				break
			}
		}
		if free == nil {
			break
		}
		cold := s.takeLocked(free)
		wt := p.queue[0]
		p.queue = p.queue[1:]
		wt.ch <- grant{w: free, cold: cold}
	}
	if p.retired {
		return
	}
	lim := p.fn.Limits
	for {
		active := p.active()
		needed := (len(p.queue) > 0 && p.starting == 0) || active < lim.MinWarm
		if !needed || active >= lim.MaxWorkers {
			return
		}
		if p.lastStartErr != nil && s.clock.Now().Before(p.retryAt) {
			if p.live() == 0 && p.starting == 0 {
				p.failQueue(p.lastStartErr) // fail fast while starts fail
			}
			return // the retry timer re-dispatches
		}
		forQueue := len(p.queue) > 0 && p.starting == 0
		if !s.makeRoomLocked(p, forQueue) {
			return // an exit elsewhere re-dispatches
		}
		s.startWorkerLocked(p)
	}
}

// dispatchAllLocked re-dispatches every pool (after node capacity freed):
// pools with waiting requests first, then pools below min_warm.
func (s *Supervisor) dispatchAllLocked() {
	for _, p := range s.pools {
		if len(p.queue) > 0 {
			s.dispatchLocked(p)
		}
	}
	for _, p := range s.pools {
		if p.active() < p.fn.Limits.MinWarm {
			s.dispatchLocked(p)
		}
	}
}

// requestWaitsForRoomLocked reports whether a pool other than p has
// requests waiting for a worker it may start (none starting, below its
// max_workers): node capacity goes to it before any min_warm.
func (s *Supervisor) requestWaitsForRoomLocked(p *pool) bool {
	for _, q := range s.pools {
		if q != p && len(q.queue) > 0 && q.starting == 0 && q.active() < q.fn.Limits.MaxWorkers {
			return true
		}
	}
	return false
}

// makeRoomLocked reports whether a worker may start now under the node cap.
// At the cap it evicts the least recently used idle worker of another
// function (its exit re-dispatches) and reports false. A worker kept warm
// for its pool's min_warm is evicted only for a waiting request
// (forQueue), and only when no other idle worker can go: evicting it to
// fill another pool's min_warm would make that pool evict in turn, without
// end, whenever the min_warm of all functions exceeds the cap.
func (s *Supervisor) makeRoomLocked(p *pool, forQueue bool) bool {
	if !forQueue && s.requestWaitsForRoomLocked(p) {
		return false // its dispatch takes the room; min_warm waits
	}
	if s.total < s.maxTotal {
		return true
	}
	if s.stopping > 0 {
		return false // capacity is on its way
	}
	var victim, warmVictim *worker
	for _, q := range s.allPoolsLocked() {
		if q == p {
			continue
		}
		warm := !q.retired && q.live() <= q.fn.Limits.MinWarm
		for _, w := range q.workers {
			if w.state != workerReady || w.inflight > 0 {
				continue
			}
			if warm {
				if warmVictim == nil || w.lastUsed.Before(warmVictim.lastUsed) {
					warmVictim = w
				}
			} else if victim == nil || w.lastUsed.Before(victim.lastUsed) {
				victim = w
			}
		}
	}
	if victim == nil && forQueue {
		victim = warmVictim
	}
	switch {
	case victim != nil:
		s.log.Info("node worker cap reached: evicting an idle worker", "function", victim.pool.fn.Name, "for", p.fn.Name, "max_workers_total", s.maxTotal)
		s.stopWorkerLocked(victim, "evicted")
	case forQueue:
		s.starved = true // every worker is busy: the next idle one is evicted
	default:
		// Only min_warm wants a worker, and every idle worker is kept warm
		// for its own function: stay below min_warm until capacity frees.
		if !p.warmStarved {
			p.warmStarved = true
			s.log.Warn("node worker cap reached: min_warm not met", "function", p.fn.Name, "min_warm", p.fn.Limits.MinWarm,
				"warm", p.active(), "max_workers_total", s.maxTotal)
		}
	}
	return false
}

// CheckMinWarm returns a *LimitError when minWarm workers for the function
// name cannot be kept warm on this node: above the node's worker cap, or
// above what the min_warm of the other functions deployed here leaves of
// it. Deploys check it so that min_warm never asks for more workers than
// the node runs (which made pools evict each other without end).
func (s *Supervisor) CheckMinWarm(name string, minWarm int) error {
	if minWarm <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if minWarm > s.maxTotal {
		return &functions.LimitError{Field: "min_warm", Message: fmt.Sprintf("%d is above this node's worker cap (max_workers_total %d): use 0 to %d", minWarm, s.maxTotal, s.maxTotal)}
	}
	others := 0
	for n, q := range s.pools {
		if n != name {
			others += q.fn.Limits.MinWarm
		}
	}
	if others+minWarm > s.maxTotal {
		left := max(s.maxTotal-others, 0)
		use := fmt.Sprintf("use 0 to %d", left)
		if left == 0 {
			use = "use 0"
		}
		return &functions.LimitError{Field: "min_warm", Message: fmt.Sprintf("%d does not fit on this node: other functions keep %d workers warm and the worker cap (max_workers_total) is %d: %s, or lower theirs",
			minWarm, others, s.maxTotal, use)}
	}
	return nil
}

// startWorkerLocked starts one worker for p in the background.
func (s *Supervisor) startWorkerLocked(p *pool) {
	s.nextID++
	w := &worker{id: s.nextID, pool: p, state: workerStarting, dead: make(chan struct{})}
	p.workers = append(p.workers, w)
	p.starting++
	s.total++
	s.wg.Add(1)
	go s.runWorker(w)
}

// runWorker starts w, then watches it until it exits and cleans up after
// it. It is the one goroutine of a worker.
func (s *Supervisor) runWorker(w *worker) {
	defer s.wg.Done()
	p := w.pool
	began := time.Now()
	cg, err := s.cgroups.create(fmt.Sprintf("w%d", w.id), p.fn.Limits)
	if err != nil && !s.cfg.RequireLimits {
		s.log.Error("create worker cgroup: running the worker without limits", "function", p.fn.Name, "error", err)
		cg, err = nil, nil
	}
	var proc process
	if err == nil {
		proc, err = s.launcher.launch(s.startCtx, p.fn, cg)
	}

	s.mu.Lock()
	p.starting--
	if err != nil {
		s.removeWorkerLocked(w)
		var ie *InvokeError
		if !errors.As(err, &ie) {
			ie = &InvokeError{Kind: KindStart, Message: "worker could not start: " + err.Error()}
		}
		if s.startCtx.Err() != nil {
			s.log.Debug("worker start cancelled by stop", "function", p.fn.Name, "error", err)
		} else if ie.Kind == KindScript {
			s.log.Info("function failed to load", "function", p.fn.Name, "version", p.fn.Version, "error", err)
		} else {
			s.log.Error("start worker", "function", p.fn.Name, "version", p.fn.Version, "error", err)
		}
		// The requests that waited for this start get its error rather than
		// waiting for the queue timeout, unless a worker can still serve.
		if p.live() == 0 {
			p.failQueue(ie)
		}
		s.startFailedLocked(p, ie)
		w.deathErr = ie
		close(w.dead)
		s.dispatchAllLocked()
		s.mu.Unlock()
		if cg != nil {
			cg.remove(s.log)
		}
		return
	}
	p.startFails, p.lastStartErr = 0, nil
	p.warmStarved = false
	w.proc = proc
	w.cg = cg
	w.state = workerReady
	w.startedAt = s.clock.Now()
	w.lastUsed = w.startedAt
	d := time.Since(began)
	s.log.Debug("worker started", "function", p.fn.Name, "version", p.fn.Version, "pid", proc.PID(), "duration", d)
	if s.state != stateStarted || w.retiring {
		s.stopWorkerLocked(w, w.stopReason)
	} else {
		s.dispatchLocked(p)
		if w.inflight == 0 {
			s.armIdleLocked(w)
		}
	}
	s.mu.Unlock()
	s.obs.ColdStart(p.fn.Name, d)

	<-proc.Done()
	s.workerExited(w)
}

// workerExited removes a reaped worker, names why it died and re-dispatches.
func (s *Supervisor) workerExited(w *worker) {
	p := w.pool
	status := w.proc.ExitStatus()
	oom := w.cg != nil && w.cg.oomKilled()

	s.mu.Lock()
	reason := w.stopReason
	switch {
	case oom:
		reason = "memory"
		w.deathErr = memoryError(p.fn.Limits.MemoryBytes)
	case reason == "timeout":
		w.deathErr = &InvokeError{Kind: KindCrash, Message: fmt.Sprintf("worker killed: a call on it ran past its timeout of %s", p.fn.Limits.Timeout)}
	case reason == "stopped":
		w.deathErr = &InvokeError{Kind: KindCrash, Message: "worker stopped: the supervisor is shutting down"}
	case reason != "":
		w.deathErr = &InvokeError{Kind: KindCrash, Message: "worker stopped (" + reason + ")"}
	default:
		reason = "crash"
		w.deathErr = &InvokeError{Kind: KindCrash, Message: "worker exited: " + status}
	}
	w.exitReason = reason
	if reason == "crash" || reason == "memory" {
		s.log.Warn("worker died", "function", p.fn.Name, "version", p.fn.Version, "pid", w.proc.PID(), "reason", reason, "status", status, "in_flight", w.inflight)
	} else {
		s.log.Debug("worker stopped", "function", p.fn.Name, "pid", w.proc.PID(), "reason", reason)
	}
	if w.state == workerStopping {
		s.stopping--
	}
	w.state = workerStopping
	s.removeWorkerLocked(w)
	close(w.dead)
	s.mu.Unlock()

	w.proc.Close()
	if w.cg != nil {
		w.cg.remove(s.log)
	}
	s.obs.WorkerExit(p.fn.Name, reason)

	s.mu.Lock()
	s.dispatchAllLocked()
	s.mu.Unlock()
}

// startFailedLocked records a failed start of p and arms the retry.
func (s *Supervisor) startFailedLocked(p *pool, ie *InvokeError) {
	p.startFails++
	backoff := min(startBackoffMin<<min(p.startFails-1, 20), startBackoffMax)
	p.lastStartErr = ie
	p.retryAt = s.clock.Now().Add(backoff)
	if p.retryTimer != nil {
		p.retryTimer.Stop()
	}
	p.retryTimer = s.clock.AfterFunc(backoff, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.dispatchLocked(p)
	})
}

// removeWorkerLocked takes w out of its pool and of the node count.
func (s *Supervisor) removeWorkerLocked(w *worker) {
	p := w.pool
	if i := slices.Index(p.workers, w); i >= 0 {
		p.workers = slices.Delete(p.workers, i, i+1)
		s.total--
	}
	if w.idleTimer != nil {
		w.idleTimer.Stop()
		w.idleTimer = nil
	}
	if p.retired && len(p.workers) == 0 {
		delete(s.draining, p)
	}
}

// stopWorkerLocked kills w; its goroutine sees the exit and cleans up. A
// worker still starting is stopped as soon as its start completes.
func (s *Supervisor) stopWorkerLocked(w *worker, reason string) {
	if w.stopReason == "" || w.stopReason == "replaced" || w.stopReason == "removed" {
		w.stopReason = reason
	}
	if w.state != workerReady {
		w.retiring = true // starting: runWorker stops it when started
		return
	}
	w.state = workerStopping
	s.stopping++
	if w.idleTimer != nil {
		w.idleTimer.Stop()
		w.idleTimer = nil
	}
	w.idleGen++
	w.proc.Kill()
}

// armIdleLocked arms w's idle timer: it stops w after the idle timeout
// unless a call takes it first or the pool is at min_warm.
func (s *Supervisor) armIdleLocked(w *worker) {
	if w.idleTimer != nil {
		w.idleTimer.Stop()
	}
	w.idleGen++
	gen := w.idleGen
	w.idleTimer = s.clock.AfterFunc(w.pool.fn.Limits.IdleTimeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if gen != w.idleGen || w.state != workerReady || w.inflight > 0 || s.state != stateStarted {
			return
		}
		w.idleTimer = nil
		if w.pool.live() <= w.pool.fn.Limits.MinWarm {
			return // kept warm; the next call re-arms the timer
		}
		s.stopWorkerLocked(w, "idle")
	})
}
