package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/picloud/picloud/functions"
)

// Generic spare workers take the exec of a worker, its go-plugin handshake
// and its sandbox set-up off a cold call's path. The supervisor keeps
// Config.SpareWorkers of them started: the same sandboxed process a
// function's worker is (own uid, no_new_privs, seccomp, Landlock, closed
// descriptors, checked like any worker's), handshake done, no function
// loaded, each in a cgroup of its own with the tightest limits a function
// may have (spareLimits). A cold start takes the oldest one, gives its
// cgroup the function's limits (it becomes the worker's cgroup), loads the
// function into it (which also sets the worker's GOMAXPROCS, Go memory
// limit and heap watch from the function's limits) and answers; a new
// spare is started once the taken one serves. A spare that dies is replaced with backoff; Stop kills
// them. Spares do not count against MaxWorkersTotal: a node runs at most
// MaxWorkersTotal + SpareWorkers worker processes.

// MaxSpareWorkers bounds Config.SpareWorkers.
const MaxSpareWorkers = 16

// spareLimits are a spare's limits until a function takes it: the
// tightest a function may have. With the smallest memory limit, a
// function's limit only ever raises a spare's.
func spareLimits() functions.Limits {
	return functions.Limits{MemoryBytes: functions.MinMemory, CPU: functions.MinCPU}
}

// spareStartLimits are a spare's limits while it starts: its CPU quota
// is a default function's (at 0.05 of a core its start takes a second or
// more, and the next cold start would find no spare); it runs only our own
// code then, and gets spareLimits once ready.
func spareStartLimits() functions.Limits {
	l := spareLimits()
	l.CPU = functions.DefaultLimits().CPU
	return l
}

// spareProcess is a started worker with no function loaded.
type spareProcess interface {
	process
	// load loads fn; on failure the worker is killed and released.
	load(ctx context.Context, fn functions.Spec) error
}

// spareStarter is a launcher that can start spare workers.
type spareStarter interface {
	startSpare(ctx context.Context, cg *workerCgroup) (spareProcess, error)
}

var (
	_ spareProcess = (*pluginProcess)(nil)
	_ spareStarter = (*pluginLauncher)(nil)
)

func (l *pluginLauncher) startSpare(ctx context.Context, cg *workerCgroup) (spareProcess, error) {
	return l.start(ctx, spareLimits(), cg)
}

// SpareStatus describes one spare worker, started with no function.
type SpareStatus struct {
	PID       int
	StartedAt time.Time
	// RSSBytes and CPUTime are read from /proc (0 where unavailable).
	RSSBytes int64
	CPUTime  time.Duration
	Sandbox  WorkerSandbox
}

// spareSet is the supervisor's spare workers; guarded by Supervisor.mu.
type spareSet struct {
	want     int
	ready    []*spare // oldest first
	starting int
	// After failed starts or deaths, no new start before retryAt.
	fails      int
	retryAt    time.Time
	retryTimer Timer
}

// spare is one spare worker.
type spare struct {
	id        uint64
	proc      spareProcess
	cg        *workerCgroup
	startedAt time.Time
	taken     chan struct{} // closed when a cold start takes it
}

// fillSparesLocked starts spares until SpareWorkers are ready or starting.
func (s *Supervisor) fillSparesLocked() {
	if s.state != stateStarted || s.spares.want == 0 || s.clock.Now().Before(s.spares.retryAt) {
		return
	}
	starter, ok := s.launcher.(spareStarter)
	if !ok {
		return
	}
	for len(s.spares.ready)+s.spares.starting < s.spares.want {
		s.spares.starting++
		s.nextID++
		s.wg.Add(1)
		go s.runSpare(starter, s.nextID)
	}
}

// spareFailedLocked backs off spare starts after a failed start or a death.
func (s *Supervisor) spareFailedLocked() {
	s.spares.fails++
	backoff := min(startBackoffMin<<min(s.spares.fails-1, 20), startBackoffMax)
	s.spares.retryAt = s.clock.Now().Add(backoff)
	if s.spares.retryTimer != nil {
		s.spares.retryTimer.Stop()
	}
	s.spares.retryTimer = s.clock.AfterFunc(backoff, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fillSparesLocked()
	})
}

// runSpare starts one spare and watches it until a cold start takes it or
// it dies.
func (s *Supervisor) runSpare(starter spareStarter, id uint64) {
	defer s.wg.Done()
	began := time.Now()
	// A spare whose cgroup cannot be made is a failed start (a worker
	// would then run without limits, a spare would only be discarded).
	cg, err := s.cgroups.create(fmt.Sprintf("s%d", id), spareStartLimits())
	var proc spareProcess
	if err == nil {
		proc, err = starter.startSpare(s.startCtx, cg)
	}
	if err == nil && cg != nil {
		if err = cg.setLimits(spareLimits()); err != nil {
			proc.Kill()
			<-proc.Done()
			proc.Close()
		}
	}
	s.mu.Lock()
	s.spares.starting--
	if err != nil {
		if s.startCtx.Err() == nil {
			s.log.Error("start spare worker", "error", err)
			s.spareFailedLocked()
		}
		s.mu.Unlock()
		if cg != nil {
			cg.remove(s.log)
		}
		return
	}
	sp := &spare{id: id, proc: proc, cg: cg, startedAt: s.clock.Now(), taken: make(chan struct{})}
	if s.state != stateStarted {
		s.mu.Unlock()
		s.discardSpare(sp)
		return
	}
	s.spares.ready = append(s.spares.ready, sp)
	s.log.Debug("spare worker started", "pid", proc.PID(), "duration", time.Since(began))
	s.mu.Unlock()

	select {
	case <-sp.taken:
		return // the cold start owns it now
	case <-proc.Done():
	}
	s.mu.Lock()
	i := slices.Index(s.spares.ready, sp)
	if i < 0 { // taken as it died: the cold start sees it gone
		s.mu.Unlock()
		return
	}
	s.spares.ready = slices.Delete(s.spares.ready, i, i+1)
	if s.state == stateStarted {
		s.log.Warn("spare worker died", "pid", proc.PID(), "status", proc.ExitStatus())
		s.spareFailedLocked()
	}
	s.mu.Unlock()
	proc.Close()
	if cg != nil {
		cg.remove(s.log)
	}
}

// takeSpareLocked takes the oldest ready spare, or returns nil.
func (s *Supervisor) takeSpareLocked() *spare {
	if len(s.spares.ready) == 0 {
		return nil
	}
	sp := s.spares.ready[0]
	s.spares.ready = slices.Delete(s.spares.ready, 0, 1)
	s.spares.fails = 0 // spares start and live: forget earlier failures
	close(sp.taken)
	return sp
}

// discardSpare kills a spare nobody will use and releases it.
func (s *Supervisor) discardSpare(sp *spare) {
	sp.proc.Kill()
	<-sp.proc.Done()
	sp.proc.Close()
	if sp.cg != nil {
		sp.cg.remove(s.log)
	}
}

// adoptSpare makes spare sp w's worker: its cgroup gets the function's
// limits, then the function is loaded. It returns a nil process and a nil
// error when the spare could not be used (the caller starts a worker
// instead), and the function's load error (a script error) as a launch
// would.
func (s *Supervisor) adoptSpare(sp *spare, w *worker) (process, *workerCgroup, error) {
	fn := w.pool.fn
	if s.cgroups.enforced() {
		err := errors.New("the spare runs without a cgroup")
		if sp.cg != nil {
			began := time.Now()
			err = sp.cg.setLimits(fn.Limits)
			s.log.Trace("spare worker limits set", "function", fn.Name, "pid", sp.proc.PID(), "took", time.Since(began))
		}
		if err != nil {
			s.log.Warn("could not give a spare worker its function's limits: starting a worker instead",
				"function", fn.Name, "pid", sp.proc.PID(), "error", err)
			s.discardSpare(sp)
			return nil, nil, nil
		}
	}
	if err := sp.proc.load(s.startCtx, fn); err != nil {
		// load killed and released the process.
		if sp.cg != nil {
			sp.cg.remove(s.log)
		}
		var ie *InvokeError
		if errors.As(err, &ie) || s.startCtx.Err() != nil {
			return nil, nil, err
		}
		s.log.Warn("a spare worker failed to load its function: starting a worker instead",
			"function", fn.Name, "pid", sp.proc.PID(), "error", err)
		return nil, nil, nil
	}
	return sp.proc, sp.cg, nil
}

// stopSparesLocked kills the ready spares (their goroutines release them)
// and stops the retry timer; spares still starting are ended by the
// cancelled start context.
func (s *Supervisor) stopSparesLocked() {
	if s.spares.retryTimer != nil {
		s.spares.retryTimer.Stop()
	}
	for _, sp := range s.spares.ready {
		sp.proc.Kill()
	}
}

// spareStatusLocked lists the ready spares (without /proc figures).
func (s *Supervisor) spareStatusLocked() []SpareStatus {
	out := make([]SpareStatus, 0, len(s.spares.ready))
	for _, sp := range s.spares.ready {
		st := SpareStatus{PID: sp.proc.PID(), StartedAt: sp.startedAt}
		if ss, ok := sp.proc.(interface{ sandboxStatus() WorkerSandbox }); ok {
			st.Sandbox = ss.sandboxStatus()
		}
		out = append(out, st)
	}
	return out
}
