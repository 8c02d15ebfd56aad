package supervisor

// Pure pool-logic tests: they run the supervisor against fakeLauncher, a
// stand-in for worker processes, to pin down queueing, eviction order and
// idle timers deterministically with a fake clock. End-to-end behaviour
// with real worker subprocesses is in supervisor_test.go.

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

func (l *fakeLauncher) launch(ctx context.Context, fn Function, _ *workerCgroup) (process, error) {
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

// fakeClock fires its timers when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves the clock and runs the timers that came due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, rest []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

type fakeBundle struct {
	sup   *Supervisor
	l     *fakeLauncher
	clock *fakeClock
}

func setupFake(t *testing.T, mod func(*Config, *fakeLauncher)) fakeBundle {
	t.Helper()
	l := &fakeLauncher{release: make(chan struct{})}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := Config{DisableCgroups: true, Clock: clock, Logger: testLogger(t)}
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
	return fakeBundle{sup: sup, l: l, clock: clock}
}

func fakeFn(name string, mod func(*Limits)) Function {
	lim := DefaultLimits()
	if mod != nil {
		mod(&lim)
	}
	return Function{Name: name, Version: 1, Source: "-- fake", Limits: lim}
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
	fn := fakeFn("busy", func(l *Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
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
	_, err := b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.ErrorIs(t, err, ErrOverloaded)

	close(b.l.release)
	require.NoError(t, <-first)
	_, err = b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.NoError(t, err, "a free slot serves again")
	require.EqualValues(t, 1, b.l.launches.Load())
}

func TestPoolLogic_QueuedCallGetsSlotWhenOneFrees(t *testing.T) {
	b := setupFake(t, nil)
	fn := fakeFn("queue", func(l *Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
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
	fn := fakeFn("sf", func(l *Limits) { l.Concurrency = 16 })
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
	_, err := b.sup.Invoke(ctx, fakeFn("b", nil), &protocol.Request{})
	require.ErrorIs(t, err, ErrOverloaded, "a busy worker is never evicted")
	close(b.l.release)
	require.NoError(t, <-first)
}

func TestPoolLogic_IdleTimerStopsExtraWorkerAndKeepsMinWarm(t *testing.T) {
	b := setupFake(t, nil)
	ctx := context.Background()
	fn := fakeFn("idle", func(l *Limits) {
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
	fn := fakeFn("zero", func(l *Limits) { l.IdleTimeout = 10 * time.Second })
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
	fn := fakeFn("gone", func(l *Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
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
	time.Sleep(100 * time.Millisecond) // several queue timeouts
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
	b.sup.Stop()
	var ie *InvokeError
	require.ErrorAs(t, <-res, &ie)
	require.Equal(t, "worker stopped: the supervisor is shutting down", ie.Message)
}
