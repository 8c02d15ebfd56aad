package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/functions"
	"github.com/stretchr/testify/require"
)

// cgroupManagerOrSkip returns a manager for a test-only parent cgroup, or
// skips the test with the reason cgroups cannot be managed here.
func cgroupManagerOrSkip(t *testing.T, name string) *cgroupManager {
	t.Helper()
	m := newCgroupManager(name, false, testLogger(t))
	if !m.enforced() {
		t.Skipf("cgroups cannot be managed here (%s): this test needs root and writable cgroup controllers", m.mode())
	}
	t.Cleanup(m.close)
	return m
}

// spawnOutput runs cmd through a spawner (inside cg) and returns its
// standard output.
func spawnOutput(t *testing.T, sp *spawner, cg *workerCgroup, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = workerSysProcAttr(cg)
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, sp.start(cmd, cg))
	require.NoError(t, cmd.Wait())
	return out.String()
}

// cgroupOf returns the cgroup path of controller ctl in a /proc/PID/cgroup
// text ("" for the v2 entry).
func cgroupOf(text, ctl string) string {
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if ctl == "" && parts[1] == "" {
			return parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctl && ctl != "" {
				return parts[2]
			}
		}
	}
	return ""
}

func TestCgroup_WorkerStartsInsideItsCgroupWithLimits(t *testing.T) {
	m := cgroupManagerOrSkip(t, "picloud-test-cg")
	lim := functions.DefaultLimits()
	lim.MemoryBytes = 48 << 20
	lim.CPU = 0.25
	cg, err := m.create("w1", lim)
	require.NoError(t, err)
	t.Cleanup(func() { cg.remove(hclog.NewNullLogger()) })
	sp := newSpawner(testLogger(t))
	t.Cleanup(sp.close)

	self, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	inside := spawnOutput(t, sp, cg, "/bin/cat", "/proc/self/cgroup")
	outside := spawnOutput(t, sp, nil, "/bin/cat", "/proc/self/cgroup")

	switch m.version {
	case 1:
		for _, ctl := range cgroupV1Controllers {
			require.True(t, strings.HasSuffix(cgroupOf(inside, ctl), "/w1"), "%s cgroup of the child: %s", ctl, inside)
			require.Equal(t, cgroupOf(string(self), ctl), cgroupOf(outside, ctl), "the spawner thread went back to our %s cgroup", ctl)
		}
		mem, err := os.ReadFile(filepath.Join(cg.dirs["memory"], "memory.limit_in_bytes"))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(48<<20), strings.TrimSpace(string(mem)))
		quota, err := os.ReadFile(filepath.Join(cg.dirs["cpu"], "cpu.cfs_quota_us"))
		require.NoError(t, err)
		require.Equal(t, "25000", strings.TrimSpace(string(quota)))
		pids, err := os.ReadFile(filepath.Join(cg.dirs["pids"], "pids.max"))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(workerPidsMax), strings.TrimSpace(string(pids)))
	case 2:
		require.True(t, strings.HasSuffix(cgroupOf(inside, ""), "/w1"), "cgroup of the child: %s", inside)
		max, err := os.ReadFile(filepath.Join(cg.dir, "memory.max"))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(48<<20), strings.TrimSpace(string(max)))
	}
}

func TestCgroup_StartRemovesStaleWorkerCgroups(t *testing.T) {
	// A cgroup manager whose instance we abandon: it stands for a
	// supervisor that crashed. Its pid is a process that has exited.
	probe := cgroupManagerOrSkip(t, "picloud-test-stale")
	dead := exec.Command("/bin/true")
	require.NoError(t, dead.Run())
	staleName := strconv.Itoa(dead.Process.Pid) + "-1-deadbeef"

	// A process left running in the stale worker cgroup.
	orphan := exec.Command("/bin/sleep", "300")
	require.NoError(t, orphan.Start())
	t.Cleanup(func() { _ = orphan.Process.Kill(); _ = orphan.Wait() })
	var staleDirs []string
	switch probe.version {
	case 1:
		for _, ctl := range cgroupV1Controllers {
			dir := filepath.Join(filepath.Dir(probe.v1Inst[ctl]), staleName, "w1")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(orphan.Process.Pid)))
			staleDirs = append(staleDirs, filepath.Dir(dir))
		}
	case 2:
		dir := filepath.Join(filepath.Dir(probe.v2Inst), staleName, "w1")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(orphan.Process.Pid)))
		staleDirs = append(staleDirs, filepath.Dir(dir))
	}

	m := newCgroupManager("picloud-test-stale", false, testLogger(t))
	t.Cleanup(m.close)
	require.True(t, m.enforced())

	err := orphan.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the orphan was killed")
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
	for _, d := range staleDirs {
		require.NoDirExists(t, d)
	}
	// The live instance of probe was left alone.
	if probe.version == 1 {
		require.DirExists(t, probe.v1Inst["memory"])
	}
}

func TestMissingControllerError_SaysHowToTurnOnMemory(t *testing.T) {
	tests := []struct {
		name, ctl, own string
		enabled        map[string]bool
		want           []string
	}{
		{"v2 kernel has memory off", "memory", "/sys/fs/cgroup/system.slice/picloud.service",
			map[string]bool{"memory": false, "cpu": true}, []string{"kernel has the memory controller disabled", "cgroup_enable=memory", "/boot/firmware/cmdline.txt", "reboot"}},
		{"v1 memory off", "memory", "", map[string]bool{"memory": false},
			[]string{"cgroup_enable=memory", "/boot/firmware/cmdline.txt"}},
		{"v2 not delegated", "memory", "/sys/fs/cgroup/user.slice",
			map[string]bool{"memory": true}, []string{"not delegated to /sys/fs/cgroup/user.slice", "Delegate="}},
		{"v2 pids off", "pids", "/x", map[string]bool{"pids": false}, []string{"kernel has the pids controller disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := missingControllerError(tt.ctl, tt.own, tt.enabled).Error()
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

// Under systemd's RestrictNamespaces= clone3 fails with ENOSYS, so workers
// cannot be started inside their cgroup (UseCgroupFD): they are moved into
// it right after they start. The guest test (make test-vm) runs this suite
// with RestrictNamespaces=yes, where the probe finds no clone3.
func TestCgroup_V2WorkerWithoutClone3IsMovedIntoItsCgroup(t *testing.T) {
	m := cgroupManagerOrSkip(t, "picloud-test-noclone3")
	if m.version != 2 {
		t.Skipf("cgroup v2 only (this host: %s)", m.mode())
	}
	m.cloneInto = false // as under RestrictNamespaces=
	cg, err := m.create("w1", functions.DefaultLimits())
	require.NoError(t, err)
	t.Cleanup(func() { cg.remove(hclog.NewNullLogger()) })
	sp := newSpawner(testLogger(t))
	t.Cleanup(sp.close)

	cmd := exec.Command("/bin/sleep", "30")
	cmd.SysProcAttr = workerSysProcAttr(cg)
	require.False(t, cmd.SysProcAttr.UseCgroupFD)
	require.NoError(t, sp.start(cmd, cg))
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(cgroupOf(string(b), ""), "/w1"), "cgroup of the child: %s", b)
}

func TestCgroup_V2WorkerStartsInsideItsCgroupWhereClone3Works(t *testing.T) {
	m := cgroupManagerOrSkip(t, "picloud-test-clone3")
	if m.version != 2 {
		t.Skipf("cgroup v2 only (this host: %s)", m.mode())
	}
	t.Logf("clone3 available: %v", m.cloneInto)
	cg, err := m.create("w1", functions.DefaultLimits())
	require.NoError(t, err)
	t.Cleanup(func() { cg.remove(hclog.NewNullLogger()) })
	require.Equal(t, m.cloneInto, workerSysProcAttr(cg).UseCgroupFD)
}
