package supervisor

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/functions"
	"golang.org/x/sys/unix"
)

// Why the cgroup files are written here rather than through the cgroup1 and
// cgroup2 managers of containerd/cgroups: we need three controllers and a
// dozen files, but also things those managers do not do (moving one thread
// in and out for the v1 fork, the CLONE_INTO_CGROUP fd for v2, nesting under
// our own cgroup per v1 hierarchy), and the managers would bring eBPF,
// D-Bus and systemd libraries into the serve binary. The mode is detected
// with cgroups.Mode() from the same module.

// cgroupV1Controllers are the v1 hierarchies a worker joins.
var cgroupV1Controllers = []string{"memory", "cpu", "pids"}

const (
	cgroupRoot      = "/sys/fs/cgroup"
	cpuPeriodMicros = 100000
	// workerPidsMax bounds the tasks (threads) of one worker: the Go
	// runtime needs a handful, the sandbox forbids fork and exec anyway.
	workerPidsMax = 64
)

// cgroupManager creates the per-worker cgroups under an instance cgroup of
// this supervisor: <own cgroup>/<CgroupName>/<pid>-<starttime>/w<N>. The
// instance name lets a later supervisor tell leftovers of a dead one (whose
// pid is gone or reused) from the cgroups of another live one.
type cgroupManager struct {
	log     hclog.Logger
	version int    // 1 or 2; 0 when limits are not enforced
	reason  string // why not, when version is 0

	// v1: per controller, the instance dir and our own cgroup dir (where
	// the spawner thread goes back to after each fork).
	v1Inst map[string]string
	v1Self map[string]string
	// v2: the instance dir, and whether clone3 can start a worker in its
	// cgroup (CLONE_INTO_CGROUP).
	v2Inst    string
	cloneInto bool
}

// workerCgroup is the cgroup (v2) or the set of cgroups (v1, one per
// controller) of one worker.
type workerCgroup struct {
	version int
	limit   int64
	dirs    map[string]string // v1: controller → dir
	self    map[string]string // v1: controller → the supervisor's cgroup
	dir     string            // v2
	fd      int               // v2: open dir for CLONE_INTO_CGROUP, -1 if none
	// v2: false when clone3 is unavailable: the worker is moved into dir
	// right after it starts (adopt), before it loads its function.
	cloneInto bool
}

func newCgroupManager(name string, disabled bool, log hclog.Logger) *cgroupManager {
	m := &cgroupManager{log: log}
	if disabled {
		m.reason = "cgroups disabled by configuration"
		return m
	}
	var err error
	switch cgroups.Mode() {
	case cgroups.Unavailable:
		err = errors.New("no cgroup filesystem at /sys/fs/cgroup")
	case cgroups.Unified:
		err = m.setupV2(name)
	default: // Legacy or Hybrid: the controllers are on v1 hierarchies
		err = m.setupV1(name)
	}
	if err != nil {
		m.version = 0
		m.reason = err.Error()
	}
	return m
}

func (m *cgroupManager) enforced() bool { return m.version != 0 }

func (m *cgroupManager) mode() string {
	switch m.version {
	case 1:
		return "cgroup1"
	case 2:
		return "cgroup2"
	}
	return "none: " + m.reason
}

// instanceName names the instance cgroup of one supervisor: the process's
// pid and start time, so a reused pid is not mistaken for the supervisor
// that made the cgroup, and a random part, as one process may run several
// supervisors (tests do).
func instanceName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d-%d-%s", os.Getpid(), procStartTime(os.Getpid()), hex.EncodeToString(b[:]))
}

// --- cgroup v1 ---

func (m *cgroupManager) setupV1(name string) error {
	enabled, err := readProcCgroups()
	if err != nil {
		return err
	}
	for _, c := range cgroupV1Controllers {
		if !enabled[c] {
			return missingControllerError(c, "", enabled)
		}
	}
	self, err := readSelfCgroupV1()
	if err != nil {
		return err
	}
	mounts, err := v1Mounts()
	if err != nil {
		return err
	}
	inst := instanceName()
	m.v1Inst = map[string]string{}
	m.v1Self = map[string]string{}
	for _, c := range cgroupV1Controllers {
		mnt, ok := mounts[c]
		if !ok {
			return fmt.Errorf("the %s controller is not mounted", c)
		}
		rel, ok := self[c]
		if !ok {
			return fmt.Errorf("no %s cgroup in /proc/self/cgroup", c)
		}
		own := filepath.Join(mnt.dir, strings.TrimPrefix(rel, mnt.root))
		base := filepath.Join(own, name)
		if err := os.MkdirAll(base, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", base, err)
		}
		m.removeStale(base, inst, func(dir string) { killCgroupProcs(dir) })
		dir := filepath.Join(base, inst)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		m.v1Inst[c] = dir
		m.v1Self[c] = own
	}
	if _, err := os.Stat(filepath.Join(m.v1Inst["memory"], "memory.limit_in_bytes")); err != nil {
		m.closeV1()
		return fmt.Errorf("memory cgroup has no memory.limit_in_bytes: %w", err)
	}
	m.version = 1
	return nil
}

type v1Mount struct{ dir, root string }

// v1Mounts maps each v1 controller to its mount point and the root of the
// hierarchy mounted there.
func v1Mounts() (map[string]v1Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	out := map[string]v1Mount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			if _, seen := out[opt]; !seen {
				out[opt] = v1Mount{dir: pf[4], root: pf[3]}
			}
		}
	}
	return out, sc.Err()
}

// readSelfCgroupV1 maps each v1 controller to this process's cgroup path.
func readSelfCgroupV1() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

// readProcCgroups returns which controllers the kernel has enabled.
func readProcCgroups() (map[string]bool, error) {
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return nil, fmt.Errorf("read /proc/cgroups: %w", err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") {
			out[f[0]] = f[3] == "1"
		}
	}
	return out, nil
}

// memoryControllerFix says how to turn on a memory controller the kernel
// has off: Raspberry Pi OS kernels disable it unless told otherwise.
const memoryControllerFix = "add cgroup_enable=memory to the kernel command line " +
	"(Raspberry Pi OS: append it to the single line of /boot/firmware/cmdline.txt, " +
	"/boot/cmdline.txt before bookworm) and reboot"

// missingControllerError explains why controller ctl cannot be used: the
// kernel has it off (enabled, from /proc/cgroups, says so), or it is not
// delegated to own (cgroup v2; "" on v1).
func missingControllerError(ctl, own string, enabled map[string]bool) error {
	if on, known := enabled[ctl]; (known && !on) || own == "" {
		if ctl == "memory" {
			return fmt.Errorf("the kernel has the memory controller disabled: %s", memoryControllerFix)
		}
		return fmt.Errorf("the kernel has the %s controller disabled (cgroup_disable=%s on its command line?)", ctl, ctl)
	}
	return fmt.Errorf("the %s controller is not delegated to %s (a systemd unit needs Delegate=cpu memory pids)", ctl, own)
}

// --- cgroup v2 ---

var cgroupV2Controllers = []string{"memory", "cpu", "pids"}

// supervisorLeaf is the child cgroup of the delegated one the supervisor
// moves itself into (cgroup v2 lets only leaves hold processes once
// controllers are handed down).
const supervisorLeaf = "supervisor"

func (m *cgroupManager) setupV2(name string) error {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("read own cgroup: %w", err)
	}
	var rel string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
		}
	}
	if rel == "" {
		return errors.New("no cgroup2 entry in /proc/self/cgroup")
	}
	own := filepath.Join(cgroupRoot, rel)
	if filepath.Base(own) == supervisorLeaf && own != filepath.Join(cgroupRoot, supervisorLeaf) {
		// Already in the leaf an earlier supervisor of this process made:
		// the delegated cgroup is its parent (else every further
		// supervisor would nest one level deeper and miss the stale
		// cgroups of the ones before).
		own = filepath.Dir(own)
	}
	avail, err := os.ReadFile(filepath.Join(own, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", own, err)
	}
	have := strings.Fields(string(avail))
	for _, c := range cgroupV2Controllers {
		if !contains(have, c) {
			// /proc/cgroups tells a controller the kernel has off from one
			// that is not delegated to us.
			enabled, _ := readProcCgroups()
			return missingControllerError(c, own, enabled)
		}
	}
	enable := "+" + strings.Join(cgroupV2Controllers, " +")
	if own != cgroupRoot {
		// The no-internal-processes rule: a cgroup that hands controllers
		// to children may hold no processes, so move ourselves to a leaf.
		leaf := filepath.Join(own, supervisorLeaf)
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", leaf, err)
		}
		if err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
			return fmt.Errorf("move the supervisor into %s: %w", leaf, err)
		}
	}
	// The root cgroup is exempt from that rule, but its children get the
	// controllers only once enabled here too.
	if err := writeFile(filepath.Join(own, "cgroup.subtree_control"), enable); err != nil {
		return fmt.Errorf("enable controllers in %s (no delegation?): %w", own, err)
	}
	base := filepath.Join(own, name)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", base, err)
	}
	if err := writeFile(filepath.Join(base, "cgroup.subtree_control"), enable); err != nil {
		return fmt.Errorf("enable controllers in %s: %w", base, err)
	}
	inst := instanceName()
	m.removeStale(base, inst, killCgroupV2)
	dir := filepath.Join(base, inst)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), enable); err != nil {
		_ = os.Remove(dir)
		return fmt.Errorf("enable controllers in %s: %w", dir, err)
	}
	m.v2Inst = dir
	m.version = 2
	m.cloneInto = clone3Available()
	if !m.cloneInto {
		m.log.Info("clone3 is not available (a seccomp filter such as systemd's RestrictNamespaces= answers ENOSYS): " +
			"each worker is moved into its cgroup right after it starts, before it loads its function")
	}
	return nil
}

// clone3Available reports whether clone3(2), and so CLONE_INTO_CGROUP, can
// be used. systemd's RestrictNamespaces= makes clone3 fail with ENOSYS (it
// cannot filter the flags clone3 takes in memory), and Go's os/exec does not
// fall back to clone when asked for UseCgroupFD. The probe passes no
// arguments: the kernel refuses them with EINVAL before creating anything.
func clone3Available() bool {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	return errno != unix.ENOSYS
}

// adopt moves process pid into the worker's v2 cgroup.
func (c *workerCgroup) adopt(pid int) error {
	if err := writeFile(filepath.Join(c.dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("move worker %d into %s: %w", pid, c.dir, err)
	}
	return nil
}

func killCgroupV2(dir string) {
	if err := writeFile(filepath.Join(dir, "cgroup.kill"), "1"); err != nil {
		killCgroupProcs(dir)
	}
}

// --- both ---

// removeStale removes, under base, the instance cgroups of supervisors that
// are gone, killing what still runs in them.
func (m *cgroupManager) removeStale(base, current string, kill func(dir string)) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == current || instanceAlive(e.Name()) {
			continue
		}
		inst := filepath.Join(base, e.Name())
		workers, _ := os.ReadDir(inst)
		for _, w := range workers {
			if w.IsDir() {
				dir := filepath.Join(inst, w.Name())
				kill(dir)
				removeCgroupDir(dir)
			}
		}
		removeCgroupDir(inst)
		m.log.Info("removed stale worker cgroups", "cgroup", inst, "workers", len(workers))
	}
}

// create makes the cgroup of one worker with its limits. It returns nil, nil
// when limits are not enforced.
func (m *cgroupManager) create(name string, l functions.Limits) (*workerCgroup, error) {
	switch m.version {
	case 1:
		cg := &workerCgroup{version: 1, limit: l.MemoryBytes, dirs: map[string]string{}, self: m.v1Self, fd: -1}
		for _, c := range cgroupV1Controllers {
			dir := filepath.Join(m.v1Inst[c], name)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				cg.remove(m.log)
				return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			cg.dirs[c] = dir
		}
		for _, st := range cg.v1LimitSteps(l, false) {
			if err := writeFile(st.file, st.value); err != nil {
				cg.remove(m.log)
				return nil, fmt.Errorf("set %s: %w", st.file, err)
			}
		}
		return cg, nil
	case 2:
		dir := filepath.Join(m.v2Inst, name)
		cg := &workerCgroup{version: 2, limit: l.MemoryBytes, dir: dir, fd: -1, cloneInto: m.cloneInto}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		for _, st := range cg.v2LimitSteps(l) {
			if err := writeFile(st.file, st.value); err != nil {
				cg.remove(m.log)
				return nil, fmt.Errorf("set %s: %w", st.file, err)
			}
		}
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			cg.remove(m.log)
			return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
		}
		cg.fd = fd
		return cg, nil
	}
	return nil, nil
}

// limitStep is one control file write of a cgroup's limits.
type limitStep struct{ file, value string }

// v1LimitSteps are the writes that give the v1 cgroups l's limits. raise:
// the memory limit goes up (memory+swap first, as it may not be below
// it), else down from unlimited (memory first).
func (c *workerCgroup) v1LimitSteps(l functions.Limits, raise bool) []limitStep {
	quota := int64(math.Ceil(l.CPU * cpuPeriodMicros))
	mem, cpu, pids := c.dirs["memory"], c.dirs["cpu"], c.dirs["pids"]
	memLimit := limitStep{filepath.Join(mem, "memory.limit_in_bytes"), strconv.FormatInt(l.MemoryBytes, 10)}
	steps := []limitStep{
		{filepath.Join(mem, "memory.swappiness"), "0"},
		{filepath.Join(cpu, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriodMicros)},
		{filepath.Join(cpu, "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10)},
		{filepath.Join(pids, "pids.max"), strconv.Itoa(workerPidsMax)},
	}
	// memory+swap equal to memory: no swap (the file exists only with
	// swap accounting on).
	if _, err := os.Stat(filepath.Join(mem, "memory.memsw.limit_in_bytes")); err == nil {
		memsw := limitStep{filepath.Join(mem, "memory.memsw.limit_in_bytes"), strconv.FormatInt(l.MemoryBytes, 10)}
		if raise {
			return append([]limitStep{memsw, memLimit}, steps...)
		}
		return append([]limitStep{memLimit, memsw}, steps...)
	}
	return append([]limitStep{memLimit}, steps...)
}

// v2LimitSteps are the writes that give the v2 cgroup l's limits.
func (c *workerCgroup) v2LimitSteps(l functions.Limits) []limitStep {
	quota := int64(math.Ceil(l.CPU * cpuPeriodMicros))
	steps := []limitStep{
		{filepath.Join(c.dir, "memory.max"), strconv.FormatInt(l.MemoryBytes, 10)},
		{filepath.Join(c.dir, "cpu.max"), fmt.Sprintf("%d %d", quota, cpuPeriodMicros)},
		{filepath.Join(c.dir, "pids.max"), strconv.Itoa(workerPidsMax)},
	}
	if _, err := os.Stat(filepath.Join(c.dir, "memory.swap.max")); err == nil {
		steps = append(steps, limitStep{filepath.Join(c.dir, "memory.swap.max"), "0"})
	}
	return steps
}

// setLimits gives the cgroup of a spare worker the limits l of the
// function that takes it: how a spare comes under its function's limits
// without leaving its cgroup (a move would cost a synchronize_rcu in the
// kernel, ~10 ms, and leave its memory charged to the cgroup it left).
// l's memory limit is at least the spare's (functions.MinMemory), so the
// memory limit only goes up and never fails for the memory in use.
func (c *workerCgroup) setLimits(l functions.Limits) error {
	steps := c.v2LimitSteps(l)
	if c.version == 1 {
		steps = c.v1LimitSteps(l, true)
	}
	for _, st := range steps {
		switch filepath.Base(st.file) {
		case "memory.swappiness", "cpu.cfs_period_us", "pids.max", "memory.swap.max":
			continue // the same for every worker: set when the cgroup was made
		}
		if err := writeFile(st.file, st.value); err != nil {
			return fmt.Errorf("set %s: %w", st.file, err)
		}
	}
	c.limit = l.MemoryBytes
	return nil
}

// close kills what is left in this supervisor's cgroups and removes them.
func (m *cgroupManager) close() {
	switch m.version {
	case 1:
		m.closeV1()
	case 2:
		workers, _ := os.ReadDir(m.v2Inst)
		for _, w := range workers {
			if w.IsDir() {
				dir := filepath.Join(m.v2Inst, w.Name())
				killCgroupV2(dir)
				removeCgroupDir(dir)
			}
		}
		removeCgroupDir(m.v2Inst)
		_ = os.Remove(filepath.Dir(m.v2Inst)) // the parent, if no one else uses it
	}
}

func (m *cgroupManager) closeV1() {
	for _, inst := range m.v1Inst {
		workers, _ := os.ReadDir(inst)
		for _, w := range workers {
			if w.IsDir() {
				dir := filepath.Join(inst, w.Name())
				killCgroupProcs(dir)
				removeCgroupDir(dir)
			}
		}
		removeCgroupDir(inst)
		_ = os.Remove(filepath.Dir(inst))
	}
}

// enterThread moves thread tid into the worker's v1 cgroups, so that a
// process it forks starts inside them.
func (c *workerCgroup) enterThread(tid int) error {
	for _, ctl := range cgroupV1Controllers {
		if err := writeFile(filepath.Join(c.dirs[ctl], "tasks"), strconv.Itoa(tid)); err != nil {
			_ = c.leaveThread(tid)
			return fmt.Errorf("move spawner thread into %s: %w", c.dirs[ctl], err)
		}
	}
	return nil
}

// leaveThread moves thread tid back to the supervisor's own v1 cgroups.
func (c *workerCgroup) leaveThread(tid int) error {
	var first error
	for _, ctl := range cgroupV1Controllers {
		if err := writeFile(filepath.Join(c.self[ctl], "tasks"), strconv.Itoa(tid)); err != nil && first == nil {
			first = fmt.Errorf("move spawner thread back to %s: %w", c.self[ctl], err)
		}
	}
	return first
}

// oomKilled reports whether the kernel's OOM killer killed a process of
// this cgroup.
func (c *workerCgroup) oomKilled() bool {
	var file string
	if c.version == 1 {
		file = filepath.Join(c.dirs["memory"], "memory.oom_control")
	} else {
		file = filepath.Join(c.dir, "memory.events")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n > 0
		}
	}
	if c.version == 1 { // kernels before 4.13 have no oom_kill counter
		b, err := os.ReadFile(filepath.Join(c.dirs["memory"], "memory.max_usage_in_bytes"))
		if err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return n >= c.limit-c.limit/64
		}
	}
	return false
}

// kill sends SIGKILL to every process of the cgroup.
func (c *workerCgroup) kill() {
	if c.version == 1 {
		killCgroupProcs(c.dirs["memory"])
	} else {
		killCgroupV2(c.dir)
	}
}

// remove kills what is left and removes the worker's cgroup(s).
func (c *workerCgroup) remove(log hclog.Logger) {
	if c.fd >= 0 {
		_ = unix.Close(c.fd)
		c.fd = -1
	}
	dirs := []string{c.dir}
	if c.version == 1 {
		dirs = dirs[:0]
		for _, d := range c.dirs {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if !removeCgroupDir(d) {
			log.Warn("could not remove worker cgroup", "cgroup", d)
		}
	}
}

// killCgroupProcs sends SIGKILL to every process listed in dir/cgroup.procs.
func killCgroupProcs(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeCgroupDir removes an empty cgroup, retrying for a short while as
// the last task of a killed process takes a moment to leave it.
func removeCgroupDir(dir string) bool {
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return true
		}
		if !errors.Is(err, unix.EBUSY) || i >= 50 {
			return false
		}
		killCgroupProcs(dir)
		time.Sleep(10 * time.Millisecond)
	}
}

// writeFile writes a cgroup control file (which exists already).
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// instanceDirs lists this supervisor's instance cgroup directories.
func (m *cgroupManager) instanceDirs() []string {
	switch m.version {
	case 1:
		var dirs []string
		for _, c := range cgroupV1Controllers {
			dirs = append(dirs, m.v1Inst[c])
		}
		return dirs
	case 2:
		return []string{m.v2Inst}
	}
	return nil
}
