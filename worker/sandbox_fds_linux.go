package worker

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedFDs closes every descriptor above 2 that came through
// exec and returns how many it closed. Those are exactly the ones without
// close-on-exec: whatever this process opened itself since (the Go
// runtime keeps its cgroup CPU limit files open) has it, as Go opens
// everything close-on-exec. The worker calls it first thing; the
// supervisor also marks its own descriptors close-on-exec, this is the
// worker's half.
func closeInheritedFDs() int {
	n := 0
	for _, fd := range openFDs() {
		if fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if unix.Close(fd) == nil {
			n++
		}
	}
	return n
}

// openFDs lists the open descriptors from /proc/self/fd (without the one
// used to read it). Raw system calls: at the worker's start, os.Open would
// set up the runtime's poller, whose descriptor closeInheritedFDs would
// then close.
func openFDs() []int {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(dfd)
	var fds []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(dfd, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd != dfd {
				fds = append(fds, fd)
			}
		}
	}
	sort.Ints(fds)
	return fds
}

// describeFDs lists the open descriptors as "N target".
func describeFDs() []string {
	var out []string
	for _, fd := range openFDs() {
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if errors.Is(err, fs.ErrNotExist) {
			// Closed since it was listed (the runtime reading a file,
			// the listing's own directory): not held, nothing to report.
			continue
		}
		if err != nil {
			target = "?"
		}
		out = append(out, strconv.Itoa(fd)+" "+target)
	}
	return out
}
