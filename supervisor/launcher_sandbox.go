package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/picloud/picloud/protocol"
)

// DefaultWorkerUser is the system user workers run as when Config.WorkerUser
// is empty and this user exists (the .deb creates it).
const DefaultWorkerUser = "picloud-worker"

// WorkerSandbox is what one worker's process sandbox applied, read back
// after its start: from the worker's own report (taken from the kernel
// once every layer was in place, before any function code ran) and, where
// serve may read it, /proc/<pid>/status.
type WorkerSandbox struct {
	UID, GID int
	// Capabilities is "none" or the sets left (hex masks).
	Capabilities string
	NoNewPrivs   bool
	// Seccomp is "filter", "strict" or "off".
	Seccomp string
	// Landlock is "enforced (abi N)", "unavailable: ..." or "failed: ...".
	Landlock string
	// FDs are the worker's open descriptors ("N target").
	FDs []string
	// Missing names each layer that is not in place, with why
	// ("uid: runs as root"); empty when the sandbox is complete.
	Missing []string
	// Errors are the sandbox steps that failed inside the worker.
	Errors []string
}

// Complete reports whether every layer is in place.
func (s WorkerSandbox) Complete() bool { return len(s.Missing) == 0 }

// Summary is the one-line form.
func (s WorkerSandbox) Summary() string {
	parts := []string{fmt.Sprintf("uid %d gid %d", s.UID, s.GID), "capabilities " + s.Capabilities,
		"seccomp " + s.Seccomp, "landlock " + s.Landlock, fmt.Sprintf("%d fds", len(s.FDs))}
	if s.NoNewPrivs {
		parts = append(parts, "no_new_privs")
	}
	if len(s.Missing) > 0 {
		parts = append(parts, "MISSING: "+strings.Join(s.Missing, "; "))
	}
	return strings.Join(parts, ", ")
}

// workerIdentity is who workers run as.
type workerIdentity struct {
	switchUID bool // the launcher sets uid/gid
	uid, gid  int
	setpcap   bool // hand the worker CAP_SETPCAP to drop its bounding set
	// desc is for the status and the log: "picloud-worker (uid 998, gid
	// 998)" or "none: <why workers run as serve's uid>".
	desc string
}

// checkSandbox reads rep (the worker's report, corrected by procStatus
// where serve could read it) against what a complete sandbox is: its own
// uid and gid (not root, not serve's), no capabilities, no_new_privs, a
// seccomp filter, Landlock enforced, and only the descriptors the worker
// opened itself.
func checkSandbox(rep *protocol.SandboxReport, serveUID, serveGID int) WorkerSandbox {
	if rep == nil {
		return WorkerSandbox{Capabilities: "?", Seccomp: "?", Landlock: "?",
			Missing: []string{"report: the worker sent no sandbox report"}}
	}
	ws := WorkerSandbox{UID: rep.UID[1], GID: rep.GID[1], NoNewPrivs: rep.NoNewPrivs, FDs: rep.FDs, Errors: rep.Errors}
	miss := func(format string, args ...any) { ws.Missing = append(ws.Missing, fmt.Sprintf(format, args...)) }
	for i := range 4 {
		if rep.UID[i] != rep.UID[0] || rep.GID[i] != rep.GID[0] {
			miss("uid: real, effective, saved and filesystem ids differ (uid %v gid %v)", rep.UID, rep.GID)
			break
		}
	}
	switch {
	case rep.UID[0] == 0:
		miss("uid: runs as root")
	case rep.UID[0] == serveUID:
		miss("uid: runs as serve's uid %d (the database user)", serveUID)
	case rep.GID[0] == 0 || rep.GID[0] == serveGID:
		miss("gid: runs with group %d (root's or serve's)", rep.GID[0])
	}
	for _, g := range rep.Groups {
		if g == 0 || g == serveGID {
			miss("groups: member of group %d (root's or serve's)", g)
		}
	}
	if all := rep.CapInh | rep.CapPrm | rep.CapEff | rep.CapBnd | rep.CapAmb; all == 0 {
		ws.Capabilities = "none"
	} else {
		ws.Capabilities = fmt.Sprintf("inh %x prm %x eff %x bnd %x amb %x", rep.CapInh, rep.CapPrm, rep.CapEff, rep.CapBnd, rep.CapAmb)
		miss("capabilities: %s left", ws.Capabilities)
	}
	if !rep.NoNewPrivs {
		miss("no_new_privs: not set")
	}
	switch rep.SeccompMode {
	case 2:
		ws.Seccomp = "filter"
	case 1:
		ws.Seccomp = "strict"
	default:
		ws.Seccomp = "off"
		miss("seccomp: no filter")
	}
	if rep.Landlock == "enforced" {
		ws.Landlock = fmt.Sprintf("enforced (abi %d)", rep.LandlockABI)
	} else {
		ws.Landlock = rep.Landlock
		if ws.Landlock == "" {
			ws.Landlock = "not reported"
		}
		miss("landlock: %s", ws.Landlock)
	}
	for _, fd := range rep.FDs {
		if !ownFD(fd) {
			miss("fds: %s is not the worker's own", fd)
		}
	}
	return ws
}

// ownFD reports whether a descriptor ("N target") is one a worker opens
// itself: its standard streams (/dev/null, pipes), sockets, the runtime's
// poller and cgroup CPU files, and its memory sampler's /proc/self/statm.
func ownFD(fd string) bool {
	_, target, _ := strings.Cut(fd, " ")
	switch {
	case target == "/dev/null",
		strings.HasPrefix(target, "pipe:["),
		strings.HasPrefix(target, "socket:["),
		target == "anon_inode:[eventpoll]",
		target == "anon_inode:[eventfd]",
		target == "anon_inode:[pidfd]":
		return true
	}
	if ok, _ := path.Match("/proc/[0-9]*/statm", target); ok {
		return true
	}
	// The Go runtime keeps its cgroup CPU limit files open (GOMAXPROCS
	// follows the quota when not set).
	if strings.HasPrefix(target, "/sys/fs/cgroup/") {
		switch path.Base(target) {
		case "cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us":
			return true
		}
	}
	return false
}

// workerIdentity resolves Config.WorkerUser, says once in the log who
// workers run as, and keeps serve's own inherited descriptors from
// reaching them.
func (s *Supervisor) workerIdentity() (workerIdentity, error) {
	id, err := resolveWorkerIdentity(s.cfg.WorkerUser)
	if err != nil {
		return id, err
	}
	if !id.switchUID {
		if s.cfg.RequireSandbox {
			return id, fmt.Errorf("a complete worker sandbox is required but workers cannot get their own uid: %s", id.desc)
		}
		s.log.Warn("WORKERS RUN AS SERVE'S UID: their own uid is a sandbox layer; run serve as root or with CAP_SETUID and CAP_SETGID and a worker user",
			"worker_user", id.desc)
	} else {
		s.log.Info("workers run as their own user", "worker_user", id.desc, "bounding_set_drop", id.setpcap)
	}
	if err := markInheritedCloexec(); err != nil {
		s.log.Warn("could not mark inherited descriptors close-on-exec; workers close them themselves", "error", err)
	}
	return id, nil
}

// ErrSandboxIncomplete is the start error of a worker lacking a sandbox
// layer under Config.RequireSandbox.
var ErrSandboxIncomplete = errors.New("worker sandbox incomplete (--require-sandbox)")

// readBackSandbox checks a started worker's sandbox report, corrected by
// /proc/<pid>/status where serve may read it, and logs each new shape of
// sandbox once (the first worker's, then any that differs).
func (l *pluginLauncher) readBackSandbox(pid int, rep *protocol.SandboxReport) WorkerSandbox {
	source := "worker report"
	if rep != nil {
		cp := *rep
		if readProcStatus(pid, &cp) {
			source = "worker report and /proc/" + strconv.Itoa(pid) + "/status"
		}
		rep = &cp
	}
	ws := checkSandbox(rep, os.Getuid(), os.Getgid())
	shape := fmt.Sprintf("%d %d %s %s %s %v %s", ws.UID, ws.GID, ws.Capabilities, ws.Seccomp, ws.Landlock, ws.NoNewPrivs,
		strings.Join(ws.Missing, ";"))
	l.mu.Lock()
	shown := l.sandboxShown[shape]
	l.sandboxShown[shape] = true
	l.mu.Unlock()
	if !shown {
		args := []any{"pid", pid, "uid", ws.UID, "gid", ws.GID, "capabilities", ws.Capabilities,
			"no_new_privs", ws.NoNewPrivs, "seccomp", ws.Seccomp, "landlock", ws.Landlock, "fds", len(ws.FDs), "read_from", source}
		if ws.Complete() {
			l.log.Info("worker sandbox complete", args...)
		} else {
			l.log.Warn("WORKER SANDBOX INCOMPLETE", append(args, "missing", strings.Join(ws.Missing, "; "),
				"errors", strings.Join(ws.Errors, "; "), "refused", l.requireSandbox)...)
		}
	}
	return ws
}
