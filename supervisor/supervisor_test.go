//go:build linux

package supervisor

// End-to-end tests of the supervisor with real worker subprocesses (built
// by TestMain) and, where this host allows it (root, writable cgroup
// controllers), real cgroups. They run one after the other: each counts the
// worker processes of the test binary.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

type testBundle struct {
	sup  *Supervisor
	host *protocol.MemoryHost
	obs  *countingObserver
}

// countingObserver counts what the supervisor reports.
type countingObserver struct {
	coldStarts atomic.Int32
	mu         sync.Mutex
	exits      []string
}

func (o *countingObserver) ColdStart(string, time.Duration) { o.coldStarts.Add(1) }
func (o *countingObserver) WorkerExit(_ string, reason string) {
	o.mu.Lock()
	o.exits = append(o.exits, reason)
	o.mu.Unlock()
}
func (o *countingObserver) Queued(string, time.Duration) {}
func (o *countingObserver) Overloaded(string)            {}

// setup starts a supervisor running the real worker binary.
func setup(t testing.TB, mod func(*Config)) testBundle {
	t.Helper()
	requireWorker(t)
	host := protocol.NewMemoryHost()
	obs := &countingObserver{}
	cfg := Config{
		WorkerPath: workerBin,
		Host:       host,
		Logger:     testLogger(t),
		CgroupName: "picloud-test",
		Observer:   obs,
	}
	if mod != nil {
		mod(&cfg)
	}
	sup, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, sup.Start(context.Background()))
	t.Cleanup(sup.Stop)
	return testBundle{sup: sup, host: host, obs: obs}
}

func testFn(name string, version int, mod func(*functions.Limits)) functions.Spec {
	lim := functions.DefaultLimits()
	lim.Timeout = time.Minute // no call of these tests times out unless asked to
	if mod != nil {
		mod(&lim)
	}
	return functions.Spec{Name: name, Version: version, Source: testSource("v" + strconv.Itoa(version)), Limits: lim}
}

func invoke(t testing.TB, sup *Supervisor, fn functions.Spec, body string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := sup.Invoke(ctx, fn, &protocol.Request{Method: "POST", Path: "/", Body: []byte(body), Trigger: protocol.TriggerHTTP})
	if err != nil {
		return "", err
	}
	return string(resp.Body), nil
}

func mustInvoke(t testing.TB, sup *Supervisor, fn functions.Spec, body string) string {
	t.Helper()
	out, err := invoke(t, sup, fn, body)
	require.NoError(t, err)
	return out
}

// workerPIDs lists the live (not zombie) child processes of this test
// binary that run the worker executable, read from /proc.
func workerPIDs(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := procStatFields(pid)
		if !ok || len(f) < 2 || f[0] == "Z" || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if isWorkerProcess(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isWorkerProcess reports whether pid runs the worker binary: its exe, or
// under qemu-user (where /proc/PID/exe is the emulator) its command line.
func isWorkerProcess(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	if exe, err := os.Readlink(dir + "/exe"); err == nil && exe == workerBin {
		return true
	}
	cmdline, err := os.ReadFile(dir + "/cmdline")
	return err == nil && bytes.Contains(cmdline, []byte(workerBin))
}

// processGone reports whether pid has exited and been reaped.
func processGone(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return errors.Is(err, os.ErrNotExist)
}

// processDead reports whether pid has exited (reaped, or a zombie of a
// parent that is not us).
func processDead(pid int) bool {
	f, ok := procStatFields(pid)
	return !ok || f[0] == "Z"
}

func workersOf(st Status, fn string) []WorkerStatus {
	var ws []WorkerStatus
	for _, w := range st.Workers {
		if w.Function == fn {
			ws = append(ws, w)
		}
	}
	return ws
}

// inFlight waits until fn has a worker with a call in flight and returns
// its pid. It fails at once if the call ended (res receives its result).
func inFlight[T any](t *testing.T, sup *Supervisor, fn string, res chan T) int {
	t.Helper()
	var pid int
	waitFor(t, fn+" call in flight", func() bool {
		select {
		case r := <-res:
			t.Fatalf("the call ended early: %v", r)
		default:
		}
		for _, w := range workersOf(sup.Status(), fn) {
			if w.InFlight > 0 && w.PID > 0 {
				pid = w.PID
				return true
			}
		}
		return false
	})
	return pid
}

func invokeErr(t *testing.T, err error) *InvokeError {
	t.Helper()
	var ie *InvokeError
	require.ErrorAs(t, err, &ie)
	return ie
}

func TestSupervisor_ColdStartFromZeroThenWarmReuse(t *testing.T) {
	b := setup(t, nil)
	require.Empty(t, workerPIDs(t), "no worker before the first call")
	fn := testFn("hello", 1, nil)

	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	st := b.sup.Status()
	require.Len(t, st.Workers, 1)
	first := st.Workers[0]
	require.Equal(t, []int{first.PID}, workerPIDs(t))

	for range 5 {
		require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	}
	st = b.sup.Status()
	require.Len(t, st.Workers, 1)
	w := st.Workers[0]
	require.Equal(t, first.PID, w.PID, "warm calls reuse the worker")
	require.EqualValues(t, 6, w.CallsServed)
	require.Equal(t, "idle", w.State)
	require.Equal(t, "hello", w.Function)
	require.Equal(t, 1, w.Version)
	require.Positive(t, w.RSSBytes)
	require.Equal(t, st.LimitsEnforced, w.LimitsEnforced)
	require.EqualValues(t, 1, b.obs.coldStarts.Load())
}

func TestSupervisor_SingleFlightColdStart(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("flight", 1, func(l *functions.Limits) { l.Concurrency = 16 })
	start := make(chan struct{})
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			<-start
			_, err := invoke(t, b.sup, fn, "")
			errs <- err
		}()
	}
	close(start)
	for range 10 {
		require.NoError(t, <-errs)
	}
	require.EqualValues(t, 1, b.obs.coldStarts.Load(), "ten first calls started one worker")
	require.Len(t, workerPIDs(t), 1)
}

func TestSupervisor_ScalesToZeroAfterIdle(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("idle", 1, func(l *functions.Limits) { l.IdleTimeout = time.Second })
	mustInvoke(t, b.sup, fn, "")
	pids := workerPIDs(t)
	require.Len(t, pids, 1)
	waitFor(t, "zero worker processes", func() bool { return len(workerPIDs(t)) == 0 })
	waitFor(t, "the worker reaped", func() bool { return processGone(pids[0]) })
	waitFor(t, "no worker in the status", func() bool { return len(b.sup.Status().Workers) == 0 })

	// And back from zero.
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	require.Len(t, workerPIDs(t), 1)
}

func TestSupervisor_MinWarmKeepsWorkersAfterIdle(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("warm", 1, func(l *functions.Limits) { l.IdleTimeout = time.Second; l.MinWarm = 1 })
	require.NoError(t, b.sup.Deploy(context.Background(), fn))
	waitFor(t, "the warm worker", func() bool {
		ws := workersOf(b.sup.Status(), "warm")
		return len(ws) == 1 && ws[0].State == "idle"
	})
	pid := workersOf(b.sup.Status(), "warm")[0].PID
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	// Three idle timeouts later the worker is still the same one.
	time.Sleep(3 * time.Second)
	ws := workersOf(b.sup.Status(), "warm")
	require.Len(t, ws, 1)
	require.Equal(t, pid, ws[0].PID)
}

func TestSupervisor_QueueBoundGivesErrOverloaded(t *testing.T) {
	b := setup(t, func(c *Config) { c.QueueTimeout = 200 * time.Millisecond })
	fn := testFn("busy", 1, func(l *functions.Limits) { l.Concurrency = 1; l.MaxWorkers = 1 })
	slow := make(chan error, 1)
	go func() {
		_, err := invoke(t, b.sup, fn, "wait")
		slow <- err
	}()
	inFlight(t, b.sup, "busy", slow)
	_, err := invoke(t, b.sup, fn, "")
	require.ErrorIs(t, err, ErrOverloaded)

	require.NoError(t, b.host.KVSet(context.Background(), "busy", "release", []byte("true"), 0))
	require.NoError(t, <-slow)
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
}

func TestSupervisor_KillNineMidCallThenRecovers(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("victim", 1, nil)
	res := make(chan error, 1)
	go func() {
		_, err := invoke(t, b.sup, fn, "loop")
		res <- err
	}()
	pid := inFlight(t, b.sup, "victim", res)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	ie := invokeErr(t, <-res)
	require.Equal(t, KindCrash, ie.Kind)
	require.Equal(t, "worker exited: signal 9", ie.Message)
	waitFor(t, "the dead worker reaped", func() bool { return processGone(pid) })

	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	ws := workersOf(b.sup.Status(), "victim")
	require.Len(t, ws, 1)
	require.NotEqual(t, pid, ws[0].PID, "a fresh worker")
}

func TestSupervisor_InfiniteLoopTimesOut(t *testing.T) {
	b := setup(t, nil)
	timeout := shortTimeout(200 * time.Millisecond)
	fn := testFn("spin", 1, func(l *functions.Limits) { l.Timeout = timeout })
	_, err := invoke(t, b.sup, fn, "loop")
	ie := invokeErr(t, err)
	require.Equal(t, KindTimeout, ie.Kind)
	require.Equal(t, "timed out after "+timeout.String(), ie.Message)
	// The worker (the same one, or a replacement) serves the next call.
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
}

func TestSupervisor_ScriptErrorKeepsWorker(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("oops", 1, nil)
	_, err := invoke(t, b.sup, fn, "error")
	ie := invokeErr(t, err)
	require.Equal(t, KindScript, ie.Kind)
	require.Contains(t, ie.Message, "boom")
	require.Len(t, ie.Logs, 1, "what the call logged before failing")
	require.Equal(t, "about to fail", ie.Logs[0].Message)
	pid := workersOf(b.sup.Status(), "oops")[0].PID
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	require.Equal(t, pid, workersOf(b.sup.Status(), "oops")[0].PID)
}

func TestSupervisor_CompileErrorFailsTheCall(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("broken", 1, nil)
	fn.Source = "function handle(req) return ( end"
	_, err := invoke(t, b.sup, fn, "")
	ie := invokeErr(t, err)
	require.Equal(t, KindScript, ie.Kind)
	require.Empty(t, workerPIDs(t), "the worker that could not load is gone")
}

func TestSupervisor_MissingWorkerBinaryIsStartError(t *testing.T) {
	b := setup(t, func(c *Config) { c.WorkerPath = filepath.Join(t.TempDir(), "nope") })
	_, err := invoke(t, b.sup, testFn("nobin", 1, nil), "")
	ie := invokeErr(t, err)
	require.Equal(t, KindStart, ie.Kind)
}

func TestSupervisor_MemoryBombHitsLimitThenNextCallWorks(t *testing.T) {
	b := setup(t, nil)
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("limits are not enforced here (%s): needs root and a writable memory cgroup", b.sup.Status().LimitsMode)
	}
	fn := testFn("bomb", 1, func(l *functions.Limits) { l.MemoryBytes = 32 << 20 })
	_, err := invoke(t, b.sup, fn, "bomb")
	ie := invokeErr(t, err)
	require.Equal(t, KindMemory, ie.Kind, "error: %v", ie)
	require.Equal(t, "memory limit of 32 MiB exceeded", ie.Message)
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
}

func TestSupervisor_CPUQuotaBoundsBusyLoop(t *testing.T) {
	b := setup(t, nil)
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("limits are not enforced here (%s): needs root and a writable cpu cgroup", b.sup.Status().LimitsMode)
	}
	fn := testFn("burn", 1, func(l *functions.Limits) { l.CPU = 0.25; l.Timeout = 2 * time.Second })
	mustInvoke(t, b.sup, fn, "") // warm, so the start is not measured
	pid := workersOf(b.sup.Status(), "burn")[0].PID
	_, cpuBefore := procStats(pid)
	began := time.Now()
	_, err := invoke(t, b.sup, fn, "loop")
	wall := time.Since(began)
	_, cpuAfter := procStats(pid)
	require.Equal(t, KindTimeout, invokeErr(t, err).Kind)
	used := cpuAfter - cpuBefore
	t.Logf("busy loop at 0.25 core: %s of CPU in %s of wall time (%.2f)", used, wall, used.Seconds()/wall.Seconds())
	require.Positive(t, used)
	// Only an upper bound: other load on the machine can only lower it.
	require.LessOrEqual(t, used.Seconds(), 0.45*wall.Seconds())
}

func TestSupervisor_NewVersionReplacesPool(t *testing.T) {
	b := setup(t, nil)
	v1 := testFn("ver", 1, nil)
	v2 := testFn("ver", 2, nil)
	slow := make(chan string, 1)
	go func() {
		out, err := invoke(t, b.sup, v1, "wait")
		if err != nil {
			out = err.Error()
		}
		slow <- out
	}()
	oldPID := inFlight(t, b.sup, "ver", slow)

	require.Equal(t, "hello v2", mustInvoke(t, b.sup, v2, ""))
	ws := workersOf(b.sup.Status(), "ver")
	require.Len(t, ws, 2, "the old worker still runs its call")
	require.Equal(t, "stopping", ws[0].State)
	require.Equal(t, 1, ws[0].Version)
	require.Equal(t, 2, ws[1].Version)
	// An older version's call goes to the current pool.
	require.Equal(t, "hello v2", mustInvoke(t, b.sup, v1, ""))

	require.NoError(t, b.host.KVSet(context.Background(), "ver", "release", []byte("true"), 0))
	require.Equal(t, "released v1", <-slow, "the call in flight finished on the old version")
	waitFor(t, "the old worker gone", func() bool { return processGone(oldPID) })
	waitFor(t, "the old worker out of the status", func() bool { return len(workersOf(b.sup.Status(), "ver")) == 1 })
	ws = workersOf(b.sup.Status(), "ver")
	require.Len(t, ws, 1)
	require.Equal(t, 2, ws[0].Version)
}

func TestSupervisor_NodeCapEvictsIdleWorkerOfOtherFunction(t *testing.T) {
	b := setup(t, func(c *Config) { c.MaxWorkersTotal = 1 })
	a := testFn("a", 1, nil)
	mustInvoke(t, b.sup, a, "")
	aPID := workersOf(b.sup.Status(), "a")[0].PID
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, testFn("b", 1, nil), ""))
	st := b.sup.Status()
	require.Empty(t, workersOf(st, "a"))
	require.Len(t, workersOf(st, "b"), 1)
	waitFor(t, "the evicted worker reaped", func() bool { return processGone(aPID) })
	require.Len(t, workerPIDs(t), 1)
}

func TestSupervisor_WorkerEnvironmentHasNoSecrets(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://picloud:hunter2@127.0.0.1/picloud")
	t.Setenv("PICLOUD_TOKEN", "pc_secret_token")
	b := setup(t, nil)
	mustInvoke(t, b.sup, testFn("env", 1, nil), "")
	pid := workersOf(b.sup.Status(), "env")[0].PID
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	require.NoError(t, err)
	env := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	for _, kv := range env {
		require.NotContains(t, kv, "hunter2")
		require.NotContains(t, kv, "pc_secret_token")
		require.False(t, strings.HasPrefix(kv, "DATABASE_URL="), kv)
		require.False(t, strings.HasPrefix(kv, "PATH="), kv)
		require.False(t, strings.HasPrefix(kv, "HOME="), kv)
	}
	t.Logf("worker environment: %q", env)
}

func TestSupervisor_StopKillsWorkersAndRemovesCgroups(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("stop", 1, func(l *functions.Limits) { l.MinWarm = 2; l.MaxWorkers = 2 })
	require.NoError(t, b.sup.Deploy(context.Background(), fn))
	waitFor(t, "two idle workers", func() bool {
		ws := workersOf(b.sup.Status(), "stop")
		return len(ws) == 2 && ws[0].State == "idle" && ws[1].State == "idle"
	})
	pids := workerPIDs(t)
	enforced := b.sup.Status().LimitsEnforced
	var instDirs []string
	if enforced {
		instDirs = b.sup.cgroups.instanceDirs()
		for _, d := range instDirs {
			require.DirExists(t, d)
		}
	}
	b.sup.Stop()
	for _, pid := range pids {
		require.True(t, processGone(pid), "worker %d reaped by Stop", pid)
	}
	for _, d := range instDirs {
		require.NoDirExists(t, d)
	}
	_, err := invoke(t, b.sup, fn, "")
	require.ErrorIs(t, err, ErrStopped)
}

func TestSupervisor_RequireLimitsFailsStartWithoutCgroups(t *testing.T) {
	sup, err := New(Config{WorkerPath: workerBin, DisableCgroups: true, RequireLimits: true, Logger: testLogger(t)})
	require.NoError(t, err)
	err = sup.Start(context.Background())
	require.ErrorContains(t, err, "limits are required")
	sup.Stop()

	sup, err = New(Config{WorkerPath: workerBin, DisableCgroups: true, Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, sup.Start(context.Background()))
	defer sup.Stop()
	st := sup.Status()
	require.False(t, st.LimitsEnforced)
	require.Equal(t, "none: cgroups disabled by configuration", st.LimitsMode)
}

func TestSupervisor_WorkersDieWithSupervisor(t *testing.T) {
	requireWorker(t)
	workersDieWithSupervisor(t, workerBin, "")
}

// Pdeathsig survives the switch to the worker's own uid (Go sets it after
// the credentials in the child).
func TestSupervisor_WorkersOfTheirOwnUserDieWithSupervisor(t *testing.T) {
	if underQEMU() {
		t.Skip("scripts/test-arm.sh runs in a user namespace that maps root alone: no other uid to switch to")
	}
	if os.Getuid() != 0 {
		t.Skip("running workers as their own uid needs root")
	}
	workersDieWithSupervisor(t, shareableWorker(t), probeWorkerUser)
}

func workersDieWithSupervisor(t *testing.T, worker, user string) {
	cgName := "picloud-test-orphan"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "PICLOUD_TEST_WORKER="+worker, "PICLOUD_TEST_CGROUP="+cgName,
		"PICLOUD_TEST_WORKER_USER="+user)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.GreaterOrEqual(t, len(f), 3, "child said %q", line)
	require.Equal(t, "ready", f[0], "child said %q", line)
	var pids []int
	for _, s := range f[1:3] {
		pid, err := strconv.Atoi(s)
		require.NoError(t, err)
		require.False(t, processDead(pid))
		pids = append(pids, pid)
	}
	childMode := strings.Join(f[3:], " ")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	for _, pid := range pids {
		waitFor(t, "worker "+strconv.Itoa(pid)+" dead", func() bool { return processDead(pid) })
	}

	// The dead supervisor's worker cgroups are removed by the next start.
	if strings.HasPrefix(childMode, "cgroup") {
		b := setup(t, func(c *Config) { c.CgroupName = cgName })
		for _, dir := range b.sup.cgroups.instanceDirs() {
			ents, err := os.ReadDir(filepath.Dir(dir))
			require.NoError(t, err)
			for _, e := range ents {
				if !e.IsDir() {
					continue // control files
				}
				require.Equal(t, filepath.Base(dir), e.Name(), "only the live instance is left")
			}
		}
	}
}

func TestSupervisor_BackstopKillsWorkerThatDoesNotAnswer(t *testing.T) {
	b := setup(t, nil)
	timeout := shortTimeout(200 * time.Millisecond)
	fn := testFn("frozen", 1, func(l *functions.Limits) { l.Timeout = timeout })
	res := make(chan error, 1)
	go func() {
		_, err := invoke(t, b.sup, fn, "loop")
		res <- err
	}()
	pid := inFlight(t, b.sup, "frozen", res)
	// A stopped worker cannot enforce its own timeout: only the
	// supervisor's backstop ends the call.
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	ie := invokeErr(t, <-res)
	require.Equal(t, KindTimeout, ie.Kind)
	require.Equal(t, "timed out after "+timeout.String(), ie.Message)
	waitFor(t, "the frozen worker reaped", func() bool { return processGone(pid) })
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
}

func TestSupervisor_OOMKillIsNamedMemoryLimit(t *testing.T) {
	b := setup(t, nil)
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("needs cgroup limits here (%s)", b.sup.Status().LimitsMode)
	}
	fn := testFn("oom", 1, nil) // 64 MiB for the worker's own heap watch
	mustInvoke(t, b.sup, fn, "")
	b.sup.mu.Lock()
	cg := b.sup.pools["oom"].workers[0].cg
	b.sup.mu.Unlock()
	// v1: memory.oom_control, v2: memory.events tell the OOM kill.
	usageFile, limitFile := filepath.Join(cg.dir, "memory.current"), filepath.Join(cg.dir, "memory.max")
	if cg.version == 1 {
		usageFile = filepath.Join(cg.dirs["memory"], "memory.usage_in_bytes")
		limitFile = filepath.Join(cg.dirs["memory"], "memory.limit_in_bytes")
	}
	// Lower the cgroup limit under the worker's back, to a little above
	// what it uses: the kernel's OOM killer strikes before the worker's
	// heap watch (which believes it has 64 MiB) fails the call.
	usage, err := os.ReadFile(usageFile)
	require.NoError(t, err)
	n, err := strconv.ParseInt(strings.TrimSpace(string(usage)), 10, 64)
	require.NoError(t, err)
	require.NoError(t, writeFile(limitFile, strconv.FormatInt(n+4<<20, 10)))

	_, err = invoke(t, b.sup, fn, "bomb")
	ie := invokeErr(t, err)
	require.Equal(t, KindMemory, ie.Kind, "error: %v", ie)
	require.Equal(t, "memory limit of 64 MiB exceeded", ie.Message)
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""), "a fresh worker serves")
}

// shortTimeout is a function timeout a test wants short, times
// PICLOUD_TEST_SLOW when set: in an emulated guest (make test-vm) loading a
// script alone can take longer than 200 ms.
func shortTimeout(d time.Duration) time.Duration {
	if f, err := strconv.Atoi(os.Getenv("PICLOUD_TEST_SLOW")); err == nil && f > 1 {
		return d * time.Duration(f)
	}
	return d
}
