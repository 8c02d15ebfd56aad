package supervisor

// Pure pool-logic tests: they run the supervisor against fakeLauncher, a
// stand-in for worker processes, to pin down queueing, eviction order and
// idle timers deterministically with a fake clock. End-to-end behaviour
// with real worker subprocesses is in supervisor_test.go.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/clock"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// fakeLauncher starts fakeProcesses. gate, when set, holds every launch
// until closed; a call with body "block" waits for release to be closed.
type fakeLauncher struct {
	launches atomic.Int32
	nextPID  atomic.Int32
	gate     chan struct{}
	release  chan struct{}
	fail     atomic.Bool
	// deadline is the deadline of the last call, in Unix nanoseconds.
	deadline atomic.Int64
}

func (l *fakeLauncher) launch(ctx context.Context, fn functions.Spec, _ *workerCgroup) (process, error) {
	l.launches.Add(1)
	if l.gate != nil {
		select {
		case <-l.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if l.fail.Load() {
		return nil, errors.New("exec: no such file")
	}
	return &fakeProcess{pid: int(100000 + l.nextPID.Add(1)), fn: fn.Name, release: l.release, done: make(chan struct{}), deadline: &l.deadline}, nil
}

func (l *fakeLauncher) close() {}

func (l *fakeLauncher) validate(context.Context, string, *workerCgroup) error { return nil }

type fakeProcess struct {
	pid      int
	fn       string
	release  chan struct{}
	done     chan struct{}
	killOnce sync.Once
	deadline *atomic.Int64
}

func (p *fakeProcess) PID() int { return p.pid }

func (p *fakeProcess) Call(ctx context.Context, req *protocol.Request, deadline time.Time) (*protocol.Response, error) {
	p.deadline.Store(deadline.UnixNano())
	if string(req.Body) == "block" {
		select {
		case <-p.release:
		case <-p.done:
			return nil, errors.New("connection reset")
		}
	}
	return &protocol.Response{Status: 200, Body: []byte(p.fn)}, nil
}

func (p *fakeProcess) Kill()                 { p.killOnce.Do(func() { close(p.done) }) }
func (p *fakeProcess) Done() <-chan struct{} { return p.done }
func (p *fakeProcess) ExitStatus() string    { return "signal 9" }
func (p *fakeProcess) Close()                {}

type fakeBundle struct {
	sup   *Supervisor
	l     *fakeLauncher
	clock *clock.Fake
}

func setupFake(t *testing.T, mod func(*Config, *fakeLauncher)) fakeBundle {
	t.Helper()
	l := &fakeLauncher{release: make(chan struct{})}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := Config{DisableCgroups: true, Clock: clk, Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg, l)
	}
	sup, err := New(cfg)
	require.NoError(t, err)
	sup.launcher = l
	require.NoError(t, sup.Start(context.Background()))
	t.Cleanup(func() {
		select {
		case <-l.release:
		default:
			close(l.release)
		}
		sup.Stop()
	})
	return fakeBundle{sup: sup, l: l, clock: clk}
}

func fakeFn(name string, mod func(*functions.Limits)) functions.Spec {
	lim := functions.DefaultLimits()
	if mod != nil {
		mod(&lim)
	}
	return functions.Spec{Name: name, Version: 1, Source: "-- fake", Limits: lim}
}

func pidsOf(st Status, fn string) []int {
	var pids []int
	for _, w := range st.Workers {
		if w.Function == fn && w.PID > 0 {
			pids = append(pids, w.PID)
		}
	}
	return pids
}

// advanceWhenArmed waits until a timer due d from now is armed (the code
// under test reached its wait), then advances the fake clock by d.
func (b fakeBundle) advanceWhenArmed(t testing.TB, d time.Duration) {
	t.Helper()
	at := b.clock.Now().Add(d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.clock.WaitTimer(ctx, func(x time.Time) bool { return x.Equal(at) }); err != nil {
		t.Fatalf("no timer armed for %s: %v", d, err)
	}
	b.clock.Advance(d)
}

// waitFor polls cond until it holds or a generous bound passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolLogic_QueueBoundGivesErrOverloaded(t *testing.T) {
	b := setupFake(t, func(c *Config, _ *fakeLauncher) { c.QueueTimeout = 50 * time.Millisecond })
	fn := fakeFn("busy", func(l *functions.Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
	ctx := context.Background()

	first := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{Body: []byte("block")})
		first <- err
	}()
	waitFor(t, "the first call in flight", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	second := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
		second <- err
	}()
	b.advanceWhenArmed(t, 50*time.Millisecond) // the queue timeout
	require.ErrorIs(t, <-second, ErrOverloaded)

	close(b.l.release)
	require.NoError(t, <-first)
	_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.NoError(t, err, "a free slot serves again")
	require.EqualValues(t, 1, b.l.launches.Load())
}

func TestPoolLogic_QueuedCallGetsSlotWhenOneFrees(t *testing.T) {
	b := setupFake(t, nil)
	fn := fakeFn("queue", func(l *functions.Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{Body: []byte("block")})
		first <- err
	}()
	waitFor(t, "the first call in flight", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	second := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
		second <- err
	}()
	close(b.l.release)
	require.NoError(t, <-first)
	require.NoError(t, <-second)
	require.EqualValues(t, 1, b.l.launches.Load(), "the queued call waited for the worker, not a new one")
}

func TestPoolLogic_SingleFlightWhileStarting(t *testing.T) {
	b := setupFake(t, func(_ *Config, l *fakeLauncher) { l.gate = make(chan struct{}) })
	fn := fakeFn("sf", func(l *functions.Limits) { l.Concurrency = 16 })
	ctx := context.Background()
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
			errs <- err
		}()
	}
	waitFor(t, "ten queued calls", func() bool {
		b.sup.mu.Lock()
		defer b.sup.mu.Unlock()
		p := b.sup.pools["sf"]
		return p != nil && len(p.queue) == 10
	})
	close(b.l.gate)
	for range 10 {
		require.NoError(t, <-errs)
	}
	require.EqualValues(t, 1, b.l.launches.Load())
}

func TestPoolLogic_NodeCapEvictsLeastRecentlyUsedIdleWorker(t *testing.T) {
	b := setupFake(t, func(c *Config, _ *fakeLauncher) { c.MaxWorkersTotal = 2 })
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		_, err := b.sup.Invoke(ctx, fakeFn(name, nil), &protocol.Request{})
		require.NoError(t, err)
		b.clock.Advance(time.Second)
	}
	// a was used before b: a goes.
	resp, err := b.sup.Invoke(ctx, fakeFn("c", nil), &protocol.Request{})
	require.NoError(t, err)
	require.Equal(t, "c", string(resp.Body))
	st := b.sup.Status()
	require.Len(t, st.Workers, 2)
	require.Empty(t, pidsOf(st, "a"))
	require.Len(t, pidsOf(st, "b"), 1)
	require.Len(t, pidsOf(st, "c"), 1)
}

func TestPoolLogic_NodeCapWithNoIdleWorkerOverloads(t *testing.T) {
	b := setupFake(t, func(c *Config, _ *fakeLauncher) {
		c.MaxWorkersTotal = 1
		c.QueueTimeout = 50 * time.Millisecond
	})
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fakeFn("a", nil), &protocol.Request{Body: []byte("block")})
		first <- err
	}()
	waitFor(t, "a busy", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	second := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fakeFn("b", nil), &protocol.Request{})
		second <- err
	}()
	b.advanceWhenArmed(t, 50*time.Millisecond) // the queue timeout
	require.ErrorIs(t, <-second, ErrOverloaded, "a busy worker is never evicted")
	close(b.l.release)
	require.NoError(t, <-first)
}

func TestPoolLogic_IdleTimerStopsExtraWorkerAndKeepsMinWarm(t *testing.T) {
	b := setupFake(t, nil)
	ctx := context.Background()
	fn := fakeFn("idle", func(l *functions.Limits) {
		l.IdleTimeout = 10 * time.Second
		l.Concurrency = 1
		l.MaxWorkers = 2
		l.MinWarm = 1
	})
	require.NoError(t, b.sup.Deploy(ctx, fn))
	waitFor(t, "the min_warm worker", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].State == "idle"
	})

	first := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{Body: []byte("block")})
		first <- err
	}()
	waitFor(t, "the first call in flight", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	_, err := b.sup.Invoke(ctx, fn, &protocol.Request{}) // starts a second worker
	require.NoError(t, err)
	require.Len(t, pidsOf(b.sup.Status(), "idle"), 2)

	b.clock.Advance(10 * time.Second)
	waitFor(t, "the idle extra worker stopped", func() bool { return len(pidsOf(b.sup.Status(), "idle")) == 1 })
	require.Equal(t, 1, b.sup.Status().Workers[0].InFlight, "the busy worker stays")

	close(b.l.release)
	require.NoError(t, <-first)
	b.clock.Advance(20 * time.Second)
	require.Len(t, pidsOf(b.sup.Status(), "idle"), 1, "min_warm keeps the last worker")
	require.EqualValues(t, 2, b.l.launches.Load())
}

func TestPoolLogic_IdleTimerScalesToZero(t *testing.T) {
	b := setupFake(t, nil)
	ctx := context.Background()
	fn := fakeFn("zero", func(l *functions.Limits) { l.IdleTimeout = 10 * time.Second })
	_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.NoError(t, err)
	b.clock.Advance(5 * time.Second)
	_, err = b.sup.Invoke(ctx, fn, &protocol.Request{}) // re-arms the timer
	require.NoError(t, err)
	b.clock.Advance(9 * time.Second)
	require.Len(t, b.sup.Status().Workers, 1, "last use was 9s ago")
	b.clock.Advance(time.Second)
	waitFor(t, "zero workers", func() bool { return len(b.sup.Status().Workers) == 0 })
	require.EqualValues(t, 1, b.l.launches.Load())
}

func TestPoolLogic_RemoveFailsQueuedCalls(t *testing.T) {
	b := setupFake(t, nil)
	fn := fakeFn("gone", func(l *functions.Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{Body: []byte("block")})
		first <- err
	}()
	waitFor(t, "the first call in flight", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	second := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
		second <- err
	}()
	waitFor(t, "a queued call", func() bool {
		b.sup.mu.Lock()
		defer b.sup.mu.Unlock()
		p := b.sup.pools["gone"]
		return p != nil && len(p.queue) == 1
	})
	b.sup.Remove("gone")
	require.ErrorIs(t, <-second, ErrRemoved)
	close(b.l.release)
	require.NoError(t, <-first, "the call in flight finishes")
	waitFor(t, "zero workers", func() bool { return len(b.sup.Status().Workers) == 0 })
}

func TestPoolLogic_StopFailsQueuedAndRefusesNew(t *testing.T) {
	b := setupFake(t, nil)
	ctx := context.Background()
	_, err := b.sup.Invoke(ctx, fakeFn("s", nil), &protocol.Request{})
	require.NoError(t, err)
	b.sup.Stop()
	b.sup.Stop()
	_, err = b.sup.Invoke(ctx, fakeFn("s", nil), &protocol.Request{})
	require.ErrorIs(t, err, ErrStopped)
	require.Empty(t, b.sup.Status().Workers)
}

func TestPoolLogic_NodeCapWaiterGetsWorkerOnceOneIsIdle(t *testing.T) {
	b := setupFake(t, func(c *Config, _ *fakeLauncher) { c.MaxWorkersTotal = 1 })
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(ctx, fakeFn("a", nil), &protocol.Request{Body: []byte("block")})
		first <- err
	}()
	waitFor(t, "a busy", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	second := make(chan string, 1)
	go func() {
		resp, err := b.sup.Invoke(ctx, fakeFn("b", nil), &protocol.Request{})
		if err != nil {
			second <- err.Error()
			return
		}
		second <- string(resp.Body)
	}()
	waitFor(t, "b queued", func() bool {
		b.sup.mu.Lock()
		defer b.sup.mu.Unlock()
		p := b.sup.pools["b"]
		return p != nil && len(p.queue) == 1
	})
	close(b.l.release)
	require.NoError(t, <-first)
	require.Equal(t, "b", <-second, "a's worker was evicted once idle")
}

func TestPoolLogic_WaitForColdStartIsNotOverload(t *testing.T) {
	b := setupFake(t, func(c *Config, l *fakeLauncher) {
		c.QueueTimeout = 20 * time.Millisecond
		l.gate = make(chan struct{})
	})
	res := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(context.Background(), fakeFn("slowstart", nil), &protocol.Request{})
		res <- err
	}()
	waitFor(t, "the start under way", func() bool { return b.l.launches.Load() == 1 })
	for range 5 { // several queue timeouts: each re-arms the wait
		b.advanceWhenArmed(t, 20*time.Millisecond)
	}
	select {
	case err := <-res:
		t.Fatalf("the call ended while its worker was starting: %v", err)
	default:
	}
	close(b.l.gate)
	require.NoError(t, <-res)
}

func TestPoolLogic_FailedStartsBackOffAndFailFast(t *testing.T) {
	b := setupFake(t, nil)
	b.l.fail.Store(true)
	ctx := context.Background()
	fn := fakeFn("nostart", nil)
	_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
	var ie *InvokeError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, KindStart, ie.Kind)
	require.Contains(t, ie.Message, "no such file")

	_, err = b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.ErrorAs(t, err, &ie, "fails fast during the backoff")
	require.EqualValues(t, 1, b.l.launches.Load(), "no new start during the backoff")

	b.l.fail.Store(false)
	b.clock.Advance(startBackoffMin)
	_, err = b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.NoError(t, err)
	require.EqualValues(t, 2, b.l.launches.Load())
}

func TestPoolLogic_StopKillsCallsPastTheDrainTimeout(t *testing.T) {
	b := setupFake(t, func(c *Config, _ *fakeLauncher) { c.DrainTimeout = 50 * time.Millisecond })
	res := make(chan error, 1)
	go func() {
		_, err := b.sup.Invoke(context.Background(), fakeFn("long", nil), &protocol.Request{Body: []byte("block")})
		res <- err
	}()
	waitFor(t, "the call in flight", func() bool {
		st := b.sup.Status()
		return len(st.Workers) == 1 && st.Workers[0].InFlight == 1
	})
	stopped := make(chan struct{})
	go func() { b.sup.Stop(); close(stopped) }()
	b.advanceWhenArmed(t, 50*time.Millisecond) // the drain timeout
	<-stopped
	var ie *InvokeError
	require.ErrorAs(t, <-res, &ie)
	require.Equal(t, "worker stopped: the supervisor is shutting down", ie.Message)
}

// exitCounter counts worker exits by reason.
type exitCounter struct {
	nopObserver
	mu     sync.Mutex
	exits  map[string]int
	starts int
}

func (c *exitCounter) WorkerExit(_, reason string) {
	c.mu.Lock()
	c.exits[reason]++
	c.mu.Unlock()
}

func (c *exitCounter) count(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exits[reason]
}

// 12 functions × min_warm 2 on a node capped at 16 workers: the pools fill
// the cap once and then stay put, instead of evicting each other's warm
// workers without end (623 evictions in 10 s before).
func TestPoolLogic_MinWarmAboveNodeCapDoesNotThrash(t *testing.T) {
	obs := &exitCounter{exits: map[string]int{}}
	b := setupFake(t, func(c *Config, _ *fakeLauncher) {
		c.MaxWorkersTotal = 16
		c.Observer = obs
	})
	ctx := context.Background()
	settled := func() bool {
		st := b.sup.Status()
		if len(st.Workers) != 16 {
			return false
		}
		for _, w := range st.Workers {
			if w.State != "idle" {
				return false
			}
		}
		return true
	}
	// Deployed one after the other, each once the workers before it are
	// warm, as a user would: the first 8 fill the cap.
	fns := make([]functions.Spec, 12)
	for i := range fns {
		fns[i] = fakeFn(string(rune('a'+i)), func(l *functions.Limits) { l.MinWarm = 2; l.MaxWorkers = 2; l.IdleTimeout = 10 * time.Second })
		require.NoError(t, b.sup.Deploy(ctx, fns[i]))
		if i >= 7 {
			waitFor(t, "16 warm workers", settled)
		}
	}
	for range 6 { // a minute of idle timers
		b.clock.Advance(10 * time.Second)
	}
	waitFor(t, "16 warm workers", settled)
	require.EqualValues(t, 16, b.l.launches.Load(), "workers started")
	require.Zero(t, obs.count("evicted"), "workers evicted")

	// A request for a function left without warm workers takes the least
	// recently used warm worker of another; that one's min_warm waits.
	resp, err := b.sup.Invoke(ctx, fns[11], &protocol.Request{})
	require.NoError(t, err)
	require.Equal(t, "l", string(resp.Body))
	waitFor(t, "16 warm workers", settled)
	for range 6 {
		b.clock.Advance(10 * time.Second)
	}
	waitFor(t, "16 warm workers", settled)
	require.EqualValues(t, 17, b.l.launches.Load(), "workers started")
	require.Equal(t, 1, obs.count("evicted"), "workers evicted")
}

func TestCheckMinWarm_RefusesWhatTheNodeCannotKeepWarm(t *testing.T) {
	b := setupFake(t, func(c *Config, _ *fakeLauncher) { c.MaxWorkersTotal = 16 })
	ctx := context.Background()
	err := b.sup.CheckMinWarm("big", 17)
	var le *functions.LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "min_warm: 17 is above this node's worker cap (max_workers_total 16): use 0 to 16", le.Error())
	for i := range 7 {
		require.NoError(t, b.sup.Deploy(ctx, fakeFn(string(rune('a'+i)), func(l *functions.Limits) { l.MinWarm = 2 })))
	}
	require.NoError(t, b.sup.CheckMinWarm("h", 2), "16 of 16")
	require.NoError(t, b.sup.CheckMinWarm("a", 2), "a redeploy counts its own min_warm once")
	require.NoError(t, b.sup.CheckMinWarm("h", 0))
	require.NoError(t, b.sup.Deploy(ctx, fakeFn("h", func(l *functions.Limits) { l.MinWarm = 2 })))
	err = b.sup.CheckMinWarm("i", 1)
	require.ErrorAs(t, err, &le)
	require.Equal(t, "min_warm: 1 does not fit on this node: other functions keep 16 workers warm and the worker cap (max_workers_total) is 16: use 0, or lower theirs", le.Error())
	err = b.sup.CheckMinWarm("h", 3)
	require.ErrorAs(t, err, &le)
	require.Equal(t, "min_warm: 3 does not fit on this node: other functions keep 14 workers warm and the worker cap (max_workers_total) is 16: use 0 to 2, or lower theirs", le.Error())
}
