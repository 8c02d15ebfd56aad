package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// procStats returns the resident set size and the CPU time (user + system)
// of a process from /proc/PID/stat; zeros when it is gone.
func procStats(pid int) (rss int64, cpu time.Duration) {
	f, ok := procStatFields(pid)
	// f[0] is field 3: utime is field 14, stime 15, rss (pages) 24.
	if !ok || len(f) < 22 {
		return 0, 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	return pages * int64(os.Getpagesize()), time.Duration(utime+stime) * time.Second / clockTicks
}

// instanceAlive reports whether the supervisor that named an instance
// cgroup is still running.
func instanceAlive(name string) bool {
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return true // not ours: leave it alone
	}
	pidS, startS := parts[0], parts[1]
	pid, err1 := strconv.Atoi(pidS)
	start, err2 := strconv.ParseUint(startS, 10, 64)
	if err1 != nil || err2 != nil {
		return true
	}
	if pid == os.Getpid() {
		// Another supervisor of this very process (tests run several):
		// alive, whatever the start time reads (qemu-user does not keep
		// /proc/PID/stat's start time steady).
		return true
	}
	st := procStartTime(pid)
	return st != 0 && st == start
}

// procStartTime is field 22 of /proc/PID/stat (0 when the process is gone).
func procStartTime(pid int) uint64 {
	f, ok := procStatFields(pid)
	if !ok || len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// procStatFields returns the fields of /proc/PID/stat after the command
// name, so f[0] is field 3 (state).
func procStatFields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(s[i+1:]), true
}

// lockRunDir creates the lock file of a run directory and takes an
// exclusive flock on it, held until the returned file is closed.
func lockRunDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, runDirLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// runDirLocked reports whether a live supervisor holds the lock of the run
// directory dir. A directory without a lock file (made before locks) is
// not locked.
func runDirLocked(dir string) bool {
	f, err := os.Open(filepath.Join(dir, runDirLockName))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
