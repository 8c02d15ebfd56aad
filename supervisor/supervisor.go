// Package supervisor runs PiCloud's functions: one pool of worker
// subprocesses per function, each worker in its own cgroup with the
// function's memory and CPU limits, started on demand (cold start), reused
// while warm, stopped after an idle timeout so an unused function costs no
// process at all, and replaced when it crashes or hits a limit. Generic
// spare workers (Config.SpareWorkers, spare.go) take the exec off a cold
// start's path.
//
// The worker side (the Lua sandbox) lives in package worker; the wire
// between the two in package protocol.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/clock"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// ErrRemoved is returned to requests queued for a function removed while
// they waited.
var ErrRemoved = errors.New("function was removed")

// ErrNotStarted is returned by Invoke and Deploy before Start.
var ErrNotStarted = errors.New("supervisor is not started")

// Status is a snapshot of the supervisor for the API and the dashboard.
type Status struct {
	// LimitsEnforced says whether workers run inside cgroups with their
	// memory, CPU and pids limits.
	LimitsEnforced bool
	// LimitsMode is "cgroup2", "cgroup1" or "none: <reason>".
	LimitsMode string
	// MaxWorkersTotal is the node-wide cap on worker processes.
	MaxWorkersTotal int
	// WorkerUser is who workers run as: "NAME (uid U, gid G)", or "none:
	// <why they run as serve's uid>".
	WorkerUser string
	// SandboxRequired says workers lacking a sandbox layer are refused
	// (Config.RequireSandbox).
	SandboxRequired bool
	// Workers lists every worker process, ordered by function and start.
	Workers []WorkerStatus
	// SpareWorkers is how many spare workers the supervisor keeps (see
	// Config.SpareWorkers) and Spares the ones ready, oldest first.
	SpareWorkers int
	Spares       []SpareStatus
}

// WorkerStatus describes one worker process.
type WorkerStatus struct {
	PID      int
	Function string
	Version  int
	// State is "starting", "idle", "busy" or "stopping".
	State       string
	CallsServed uint64
	InFlight    int
	StartedAt   time.Time
	LastUsed    time.Time
	// RSSBytes and CPUTime are read from /proc (0 where unavailable).
	RSSBytes       int64
	CPUTime        time.Duration
	LimitsEnforced bool
	// Sandbox is what the worker's process sandbox applied, read back at
	// its start (zero while starting).
	Sandbox WorkerSandbox
}

// Supervisor owns every worker process of the node. Create it with New,
// then Start it; Stop ends every worker.
type Supervisor struct {
	cfg      Config
	log      hclog.Logger
	clock    Clock
	obs      Observer
	maxTotal int
	queueTO  time.Duration

	// set by Start
	launcher launcher
	cgroups  *cgroupManager
	workerID workerIdentity

	mu       sync.Mutex
	state    lifecycle
	pools    map[string]*pool // the current version of each function
	draining map[*pool]bool   // replaced or removed pools with workers left
	total    int              // worker processes counted against maxTotal
	stopping int              // of which being stopped
	starved  bool             // a pool waits for node capacity with no worker to evict
	spares   spareSet         // generic spare workers (spare.go)
	calls    sync.WaitGroup   // calls in flight (for Stop's drain)
	wg       sync.WaitGroup   // worker goroutines
	nextID   uint64

	startCtx    context.Context // cancelled by Stop: aborts cold starts
	cancelStart context.CancelFunc
	stopped     chan struct{}
	// validating holds one token per source validation running (a
	// validator process each), bounding them per node.
	validating chan struct{}
}

type lifecycle int

const (
	stateNew lifecycle = iota
	stateStarted
	stateStopping
	stateStopped
)

// New checks cfg and returns a Supervisor to Start.
func New(cfg Config) (*Supervisor, error) {
	if cfg.MaxWorkersTotal < 0 {
		return nil, fmt.Errorf("max workers total %d is negative", cfg.MaxWorkersTotal)
	}
	if cfg.SpareWorkers < 0 || cfg.SpareWorkers > MaxSpareWorkers {
		return nil, fmt.Errorf("spare workers %d is out of range: use 0 to %d", cfg.SpareWorkers, MaxSpareWorkers)
	}
	if cfg.QueueTimeout < 0 {
		return nil, fmt.Errorf("queue timeout %s is negative", cfg.QueueTimeout)
	}
	s := &Supervisor{
		cfg:      cfg,
		log:      cfg.Logger,
		clock:    cfg.Clock,
		obs:      cfg.Observer,
		maxTotal: cfg.MaxWorkersTotal,
		queueTO:  cfg.QueueTimeout,
		pools:    map[string]*pool{},
		draining: map[*pool]bool{},
		stopped:  make(chan struct{}),

		validating: make(chan struct{}, maxValidations),
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.log = s.log.Named("supervisor")
	s.clock = clock.OrReal(s.clock)
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	if s.maxTotal == 0 {
		s.maxTotal = DefaultMaxWorkersTotal
	}
	if s.queueTO == 0 {
		s.queueTO = DefaultQueueTimeout
	}
	if s.cfg.CgroupName == "" {
		s.cfg.CgroupName = DefaultCgroupName
	}
	return s, nil
}

// Start detects the cgroup mode, removes worker cgroups left behind by a
// supervisor that crashed, and readies the supervisor. It returns at once:
// workers start on demand. With RequireLimits, limits that cannot be
// enforced are an error.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return errors.New("supervisor: start called twice")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cg := newCgroupManager(s.cfg.CgroupName, s.cfg.DisableCgroups, s.log)
	if !cg.enforced() {
		if s.cfg.RequireLimits {
			cg.close()
			return fmt.Errorf("limits are required but cannot be enforced: %s", cg.mode())
		}
		s.log.Warn("WORKER LIMITS ARE NOT ENFORCED: functions run without memory, cpu and pids limits", "mode", cg.mode())
	} else {
		s.log.Info("worker limits enforced", "mode", cg.mode())
	}
	if s.launcher == nil { // tests may inject one
		id, err := s.workerIdentity()
		if err != nil {
			cg.close()
			return err
		}
		s.workerID = id
		path, args, err := s.cfg.workerCommand()
		if err != nil {
			cg.close()
			return fmt.Errorf("find worker executable: %w", err)
		}
		runDir, runLock, err := makeRunDir(s.log)
		if err != nil {
			cg.close()
			return err
		}
		if err := shareRunDir(runDir, id); err != nil {
			cg.close()
			_ = os.RemoveAll(runDir)
			if runLock != nil {
				runLock.Close()
			}
			return err
		}
		l := newPluginLauncher(path, args, runDir, s.cfg.Host, s.log, id, s.cfg.RequireSandbox)
		l.runLock = runLock
		s.launcher = l
	}
	s.cgroups = cg
	s.startCtx, s.cancelStart = context.WithCancel(context.Background())
	s.state = stateStarted
	s.spares.want = s.cfg.SpareWorkers
	s.fillSparesLocked()
	return nil
}

// Stop refuses new calls, fails queued ones with ErrStopped, waits for the
// calls in flight to finish (at most Config.DrainTimeout, then their
// workers are killed), then stops every worker and removes their cgroups.
// It is synchronous and idempotent.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	switch s.state {
	case stateNew:
		s.state = stateStopped
		close(s.stopped)
		s.mu.Unlock()
		return
	case stateStopping, stateStopped:
		s.mu.Unlock()
		<-s.stopped
		return
	}
	s.state = stateStopping
	for _, p := range s.allPoolsLocked() {
		p.failQueue(ErrStopped)
	}
	s.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		s.calls.Wait()
		close(drained)
	}()
	drain := s.cfg.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	expired := make(chan struct{})
	timer := s.clock.AfterFunc(drain, func() { close(expired) })
	select {
	case <-drained:
	case <-expired:
		s.log.Warn("calls still running after the drain timeout: killing their workers", "drain_timeout", drain)
	}
	timer.Stop()

	s.mu.Lock()
	s.cancelStart()
	s.stopSparesLocked()
	for _, p := range s.allPoolsLocked() {
		if p.retryTimer != nil {
			p.retryTimer.Stop()
		}
		for _, w := range p.workers {
			s.stopWorkerLocked(w, "stopped")
		}
	}
	s.mu.Unlock()

	<-drained // the killed workers' calls have returned
	s.wg.Wait()
	s.launcher.close()
	s.cgroups.close()

	s.mu.Lock()
	s.state = stateStopped
	s.pools = map[string]*pool{}
	s.draining = map[*pool]bool{}
	close(s.stopped)
	s.mu.Unlock()
}

// Invoke runs req on fn. It finds or creates fn's pool (a newer fn.Version
// replaces the pool of an older one: calls in flight finish there, new ones
// go to the new version), takes a slot on a warm worker or starts one, and
// waits at most the queue timeout for a slot.
//
// Errors: ErrOverloaded, ErrStopped, ErrNotStarted, ErrRemoved, a
// *LimitError for invalid limits, an *InvokeError for a failure of the call
// (script, timeout, memory, crash, start), or ctx's error.
func (s *Supervisor) Invoke(ctx context.Context, fn functions.Spec, req *protocol.Request) (*protocol.Response, error) {
	w, err := s.acquire(ctx, fn)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(ctx, w, req)
	s.release(w)
	return resp, err
}

// Deploy makes fn the current version of its function now: an older pool
// is replaced and fn's min_warm workers are started (in the background; a
// start failure shows in the logs and on the next Invoke).
func (s *Supervisor) Deploy(ctx context.Context, fn functions.Spec) error {
	if err := fn.Limits.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	p := s.poolForLocked(fn)
	if p.fn.Version != fn.Version {
		return fmt.Errorf("deploy %s version %d: version %d is already current", fn.Name, fn.Version, p.fn.Version)
	}
	return nil
}

// Remove stops the pool of the named function: idle workers stop now, busy
// ones once their calls finish, queued requests get ErrRemoved.
func (s *Supervisor) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[name]
	if p == nil {
		return
	}
	delete(s.pools, name)
	p.failQueue(ErrRemoved)
	s.retireLocked(p, "removed")
}

// Status returns a snapshot of every worker.
func (s *Supervisor) Status() Status {
	type entry struct {
		st  WorkerStatus
		pid int
	}
	s.mu.Lock()
	st := Status{MaxWorkersTotal: s.maxTotal, LimitsMode: "none: supervisor not started",
		WorkerUser: s.workerID.desc, SandboxRequired: s.cfg.RequireSandbox}
	if s.cgroups != nil {
		st.LimitsEnforced = s.cgroups.enforced()
		st.LimitsMode = s.cgroups.mode()
	}
	var ws []WorkerStatus
	for _, p := range s.allPoolsLocked() {
		for _, w := range p.workers {
			ws = append(ws, w.statusLocked())
		}
	}
	st.SpareWorkers = s.spares.want
	st.Spares = s.spareStatusLocked()
	s.mu.Unlock()
	for i := range st.Spares {
		st.Spares[i].RSSBytes, st.Spares[i].CPUTime = procStats(st.Spares[i].PID)
	}
	for i := range ws {
		if ws[i].PID > 0 {
			ws[i].RSSBytes, ws[i].CPUTime = procStats(ws[i].PID)
		}
	}
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].Function != ws[j].Function {
			return ws[i].Function < ws[j].Function
		}
		if ws[i].Version != ws[j].Version {
			return ws[i].Version < ws[j].Version
		}
		return ws[i].StartedAt.Before(ws[j].StartedAt)
	})
	st.Workers = ws
	return st
}

// usableLocked says why calls are refused, if they are.
func (s *Supervisor) usableLocked() error {
	switch s.state {
	case stateNew:
		return ErrNotStarted
	case stateStarted:
		return nil
	default:
		return ErrStopped
	}
}

// allPoolsLocked returns the current and the draining pools.
func (s *Supervisor) allPoolsLocked() []*pool {
	ps := make([]*pool, 0, len(s.pools)+len(s.draining))
	for _, p := range s.pools {
		ps = append(ps, p)
	}
	for p := range s.draining {
		ps = append(ps, p)
	}
	return ps
}
