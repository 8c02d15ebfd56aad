//go:build linux

package supervisor

// Spare workers with real worker subprocesses and, where the host allows,
// real cgroups.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
)

// readySpares waits for n ready spares and returns them.
func readySpares(t *testing.T, sup *Supervisor, n int) []SpareStatus {
	t.Helper()
	var sp []SpareStatus
	waitFor(t, strconv.Itoa(n)+" ready spares", func() bool {
		sp = sup.Status().Spares
		return len(sp) == n
	})
	return sp
}

// requireInCgroup checks that process pid is in the worker cgroup cg.
func requireInCgroup(t *testing.T, pid int, cg *workerCgroup) {
	t.Helper()
	if cg.version == 2 {
		procs, err := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs"))
		require.NoError(t, err)
		require.Contains(t, strings.Fields(string(procs)), strconv.Itoa(pid))
		return
	}
	for _, ctl := range cgroupV1Controllers {
		procs, err := os.ReadFile(filepath.Join(cg.dirs[ctl], "cgroup.procs"))
		require.NoError(t, err)
		require.Contains(t, strings.Fields(string(procs)), strconv.Itoa(pid), "pid %d in %s", pid, cg.dirs[ctl])
	}
}

func TestSpare_ColdCallIsServedByTheSpare(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	spare := readySpares(t, b.sup, 1)[0]
	require.Equal(t, []int{spare.PID}, workerPIDs(t), "the spare is the one worker process")
	require.Equal(t, 1, b.sup.Status().SpareWorkers)

	require.Equal(t, "hello v1", mustInvoke(t, b.sup, testFn("hello", 1, nil), ""))
	ws := workersOf(b.sup.Status(), "hello")
	require.Len(t, ws, 1)
	require.Equal(t, spare.PID, ws[0].PID, "the worker that answered is the spare")
	// The start is observed once the supervisor lets go of its lock, which
	// may be after the call it served answered.
	waitFor(t, "the cold start observed", func() bool { return b.obs.coldStarts.Load() >= 1 })
	require.EqualValues(t, 1, b.obs.coldStarts.Load())

	next := readySpares(t, b.sup, 1)[0]
	require.NotEqual(t, spare.PID, next.PID, "a new spare replaces the taken one")
	require.ElementsMatch(t, []int{spare.PID, next.PID}, workerPIDs(t))
	// Warm calls stay on the adopted worker.
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, testFn("hello", 1, nil), ""))
	require.Equal(t, spare.PID, workersOf(b.sup.Status(), "hello")[0].PID)
}

func TestSpare_FunctionLimitsApplyToTheAdoptedSpare(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("limits are not enforced here (%s): needs root and writable cgroup controllers", b.sup.Status().LimitsMode)
	}
	spare := readySpares(t, b.sup, 1)[0]
	fn := testFn("bomb", 1, func(l *functions.Limits) { l.MemoryBytes = 32 << 20; l.CPU = 0.5 })
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	b.sup.mu.Lock()
	w := b.sup.pools["bomb"].workers[0]
	pid, cg := w.proc.PID(), w.cg
	b.sup.mu.Unlock()
	require.Equal(t, spare.PID, pid, "the spare serves the function")
	require.NotNil(t, cg)
	requireInCgroup(t, pid, cg)
	memFile, cpuFile, want := filepath.Join(cg.dir, "memory.max"), filepath.Join(cg.dir, "cpu.max"), "50000 100000"
	if cg.version == 1 {
		memFile, cpuFile, want = filepath.Join(cg.dirs["memory"], "memory.limit_in_bytes"), filepath.Join(cg.dirs["cpu"], "cpu.cfs_quota_us"), "50000"
	}
	mem, err := os.ReadFile(memFile)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(32<<20), strings.TrimSpace(string(mem)))
	cpu, err := os.ReadFile(cpuFile)
	require.NoError(t, err)
	require.Equal(t, want, strings.TrimSpace(string(cpu)))

	_, err = invoke(t, b.sup, fn, "bomb")
	ie := invokeErr(t, err)
	require.Equal(t, KindMemory, ie.Kind, "error: %v", ie)
	require.Equal(t, "memory limit of 32 MiB exceeded", ie.Message)
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""), "a worker serves after the bomb")
}

func TestSpare_AdoptedSpareHasTheFunctionsOwnMemoryLimit(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("limits are not enforced here (%s): needs root and writable cgroup controllers", b.sup.Status().LimitsMode)
	}
	spare := readySpares(t, b.sup, 1)[0]
	fn := testFn("bomb", 1, func(l *functions.Limits) { l.MemoryBytes = 32 << 20 })
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	b.sup.mu.Lock()
	w := b.sup.pools["bomb"].workers[0]
	pid, cg := w.proc.PID(), w.cg
	b.sup.mu.Unlock()
	require.Equal(t, spare.PID, pid, "the spare serves the function")
	// Raise the cgroup's limit under the worker's back: only the limit the
	// worker got at load (its heap watch) stops the bomb at 32 MiB, and
	// the worker survives it (the OOM killer would have killed it).
	files := []string{filepath.Join(cg.dir, "memory.max")}
	if cg.version == 1 {
		files = []string{filepath.Join(cg.dirs["memory"], "memory.limit_in_bytes")}
		if memsw := filepath.Join(cg.dirs["memory"], "memory.memsw.limit_in_bytes"); fileExists(memsw) {
			files = append([]string{memsw}, files...) // memsw first: it may not be below the limit
		}
	}
	for _, f := range files {
		require.NoError(t, writeFile(f, strconv.Itoa(1<<30)))
	}
	_, err := invoke(t, b.sup, fn, "bomb")
	ie := invokeErr(t, err)
	require.Equal(t, KindMemory, ie.Kind, "error: %v", ie)
	require.Equal(t, "memory limit of 32 MiB exceeded", ie.Message)
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, fn, ""))
	ws := workersOf(b.sup.Status(), "bomb")
	require.Len(t, ws, 1)
	require.Equal(t, spare.PID, ws[0].PID, "the worker's heap watch stopped the bomb: the worker lives")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestSpare_ZeroSparesStartsNone(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 0 })
	require.Empty(t, workerPIDs(t))
	st := b.sup.Status()
	require.Zero(t, st.SpareWorkers)
	require.Empty(t, st.Spares)
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, testFn("hello", 1, nil), ""))
	pid := workersOf(b.sup.Status(), "hello")[0].PID
	require.Equal(t, []int{pid}, workerPIDs(t), "only the function's worker")
	require.Empty(t, b.sup.Status().Spares)
}

func TestSpare_DeadSpareIsReplaced(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	spare := readySpares(t, b.sup, 1)[0]
	require.NoError(t, syscall.Kill(spare.PID, syscall.SIGKILL))
	waitFor(t, "the dead spare reaped", func() bool { return processGone(spare.PID) })
	// The status may list the dead spare a moment longer than /proc does
	// (its reaper has yet to run): wait for the replacement itself.
	var next SpareStatus
	waitFor(t, "a replacement spare", func() bool {
		sp := b.sup.Status().Spares
		if len(sp) != 1 || sp[0].PID == spare.PID {
			return false
		}
		next = sp[0]
		return true
	})
	require.Equal(t, []int{next.PID}, workerPIDs(t))
	require.Equal(t, "hello v1", mustInvoke(t, b.sup, testFn("hello", 1, nil), ""))
	require.Equal(t, next.PID, workersOf(b.sup.Status(), "hello")[0].PID)
}

func TestSpare_StopLeavesNoSpare(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 2 })
	spares := readySpares(t, b.sup, 2)
	var instDirs []string
	if b.sup.Status().LimitsEnforced {
		instDirs = b.sup.cgroups.instanceDirs()
	}
	b.sup.Stop()
	for _, sp := range spares {
		require.True(t, processGone(sp.PID), "spare %d reaped by Stop", sp.PID)
	}
	require.Empty(t, workerPIDs(t))
	for _, d := range instDirs {
		require.NoDirExists(t, d)
	}
}

func TestSpare_SandboxIsAWorkersSandbox(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	spare := readySpares(t, b.sup, 1)[0]
	// A worker exec'd for its function (the spare is taken by a first
	// function, the second one waits for no spare: it execs).
	mustInvoke(t, b.sup, testFn("a", 1, nil), "")
	b.sup.mu.Lock()
	b.sup.spares.want = 0 // no replacement: the next cold start execs
	for _, sp := range b.sup.spares.ready {
		sp.proc.Kill()
	}
	b.sup.mu.Unlock()
	waitFor(t, "no spare", func() bool { return len(b.sup.Status().Spares) == 0 })
	mustInvoke(t, b.sup, testFn("b", 1, nil), "")
	exec := workersOf(b.sup.Status(), "b")[0]
	require.NotEqual(t, spare.PID, exec.PID)
	s, w := spare.Sandbox, exec.Sandbox
	require.Equal(t, w.UID, s.UID)
	require.Equal(t, w.GID, s.GID)
	require.Equal(t, w.Capabilities, s.Capabilities)
	require.Equal(t, w.NoNewPrivs, s.NoNewPrivs)
	require.Equal(t, w.Seccomp, s.Seccomp)
	require.Equal(t, w.Landlock, s.Landlock)
	require.Equal(t, w.Missing, s.Missing)
	t.Logf("spare sandbox: %s", s.Summary())
}

func TestSpare_ConfigOutOfRangeIsRefused(t *testing.T) {
	for _, n := range []int{-1, MaxSpareWorkers + 1} {
		_, err := New(Config{SpareWorkers: n})
		require.ErrorContains(t, err, "spare workers")
	}
}

func TestSpare_WaitsUnderTheTightestLimits(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("limits are not enforced here (%s): needs root and writable cgroup controllers", b.sup.Status().LimitsMode)
	}
	spare := readySpares(t, b.sup, 1)[0]
	b.sup.mu.Lock()
	cg := b.sup.spares.ready[0].cg
	b.sup.mu.Unlock()
	require.NotNil(t, cg)
	requireInCgroup(t, spare.PID, cg)
	files := map[string]string{
		filepath.Join(cg.dir, "memory.max"): strconv.Itoa(functions.MinMemory),
		filepath.Join(cg.dir, "cpu.max"):    "5000 100000",
		filepath.Join(cg.dir, "pids.max"):   strconv.Itoa(workerPidsMax),
	}
	if cg.version == 1 {
		files = map[string]string{
			filepath.Join(cg.dirs["memory"], "memory.limit_in_bytes"): strconv.Itoa(functions.MinMemory),
			filepath.Join(cg.dirs["cpu"], "cpu.cfs_quota_us"):         "5000",
			filepath.Join(cg.dirs["pids"], "pids.max"):                strconv.Itoa(workerPidsMax),
		}
	}
	for f, want := range files {
		got, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Equal(t, want, strings.TrimSpace(string(got)), f)
	}
}

func TestSpare_AdoptedWorkerStillScalesToZero(t *testing.T) {
	b := setup(t, func(c *Config) { c.SpareWorkers = 1 })
	spare := readySpares(t, b.sup, 1)[0]
	fn := testFn("idle", 1, func(l *functions.Limits) { l.IdleTimeout = time.Second })
	mustInvoke(t, b.sup, fn, "")
	require.Equal(t, spare.PID, workersOf(b.sup.Status(), "idle")[0].PID)
	waitFor(t, "the function at zero workers", func() bool { return len(b.sup.Status().Workers) == 0 })
	waitFor(t, "the adopted spare reaped", func() bool { return processGone(spare.PID) })
	next := readySpares(t, b.sup, 1)[0]
	require.Equal(t, []int{next.PID}, workerPIDs(t), "only the new spare is left")
}
