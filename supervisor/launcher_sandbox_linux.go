package supervisor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/picloud/picloud/protocol"
)

// resolveWorkerIdentity decides who workers run as. spec is Config.WorkerUser:
// "NAME", "NAME:GROUP", "UID" or "UID:GID"; empty means DefaultWorkerUser
// if that user exists. Switching needs root or CAP_SETUID and CAP_SETGID;
// without them (or without a user) workers run as serve's uid, which the
// returned identity says (desc; Start refuses it under RequireSandbox). A
// user that is root, or serve's own user or group, is an error.
func resolveWorkerIdentity(spec string) (workerIdentity, error) {
	eff := effectiveCaps()
	canSwitch := eff&(1<<unix.CAP_SETUID) != 0 && eff&(1<<unix.CAP_SETGID) != 0
	if spec == "" {
		if _, err := user.Lookup(DefaultWorkerUser); err != nil {
			return workerIdentity{desc: fmt.Sprintf("none: no user %s (create it, or set --worker-user); workers run as serve's uid %d",
				DefaultWorkerUser, os.Getuid())}, nil
		}
		spec = DefaultWorkerUser
	}
	uid, gid, name, err := lookupUser(spec)
	if err != nil {
		return workerIdentity{}, fmt.Errorf("worker user %q: %w", spec, err)
	}
	if uid == 0 || gid == 0 {
		return workerIdentity{}, fmt.Errorf("worker user %q: uid %d gid %d: workers must not run as root", spec, uid, gid)
	}
	if uid == os.Getuid() || gid == os.Getgid() {
		return workerIdentity{}, fmt.Errorf("worker user %q: uid %d gid %d: workers must not run as serve's user or group (%d:%d), which owns the database role and admin.token",
			spec, uid, gid, os.Getuid(), os.Getgid())
	}
	if !canSwitch {
		return workerIdentity{desc: fmt.Sprintf("none: serve (uid %d) has neither root nor CAP_SETUID and CAP_SETGID to run workers as %s; workers run as serve's uid",
			os.Getuid(), name)}, nil
	}
	return workerIdentity{switchUID: true, uid: uid, gid: gid, setpcap: eff&(1<<unix.CAP_SETPCAP) != 0,
		desc: fmt.Sprintf("%s (uid %d, gid %d)", name, uid, gid)}, nil
}

// lookupUser resolves "NAME[:GROUP]" or "UID[:GID]"; a number without a
// passwd entry is used as it is (its gid defaults to the uid).
func lookupUser(spec string) (uid, gid int, name string, err error) {
	uname, gname, hasGroup := strings.Cut(spec, ":")
	if n, err := strconv.Atoi(uname); err == nil {
		uid, gid, name = n, n, uname
		if u, err := user.LookupId(uname); err == nil {
			name = u.Username
			gid, _ = strconv.Atoi(u.Gid)
		}
	} else {
		u, err := user.Lookup(uname)
		if err != nil {
			return 0, 0, "", err
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		name = u.Username
	}
	if hasGroup {
		if n, err := strconv.Atoi(gname); err == nil {
			gid = n
		} else {
			g, err := user.LookupGroup(gname)
			if err != nil {
				return 0, 0, "", err
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	if uid < 0 || gid < 0 || int64(uid) >= math.MaxUint32 || int64(gid) >= math.MaxUint32 {
		return 0, 0, "", fmt.Errorf("uid %d gid %d out of range", uid, gid)
	}
	return uid, gid, name, nil
}

// effectiveCaps is this thread's effective capability set.
func effectiveCaps() uint64 {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32
}

// credentialAttr sets the worker's uid and gid (no supplementary groups)
// and, when serve has it, hands it CAP_SETPCAP alone as an ambient
// capability: enough for the worker to empty its bounding set and lock
// its securebits before any function code runs, which it then does.
func credentialAttr(attr *syscall.SysProcAttr, id workerIdentity) {
	if !id.switchUID {
		return
	}
	attr.Credential = &syscall.Credential{Uid: uint32(id.uid), Gid: uint32(id.gid), Groups: []uint32{}}
	if id.setpcap {
		attr.AmbientCaps = []uintptr{unix.CAP_SETPCAP}
	}
}

// shareRunDir lets workers of another uid through the run directory
// (search only: they cannot list it).
func shareRunDir(dir string, id workerIdentity) error {
	if !id.switchUID {
		return nil
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fmt.Errorf("open the run directory to workers: %w", err)
	}
	return nil
}

// shareSockDir gives a worker of another uid its socket directory:
// owned by the worker (root, CAP_CHOWN) or at least by its group (serve
// being a member of it), mode 2770, so that the worker's own directory in
// it is its group's too (see worker.NewServer) and serve reaches the
// sockets and removes them.
func shareSockDir(dir string, id workerIdentity) error {
	if !id.switchUID {
		return nil
	}
	if err := os.Chown(dir, id.uid, id.gid); err != nil {
		if err2 := os.Chown(dir, -1, id.gid); err2 != nil {
			return fmt.Errorf("give the worker its socket directory: serve must be root, have CAP_CHOWN, or be a member of group %d: %w",
				id.gid, errors.Join(err, err2))
		}
	}
	if err := os.Chmod(dir, 0o770|os.ModeSetgid); err != nil {
		// systemd's RestrictSUIDSGID= refuses the setgid bit; the worker's
		// files get its group anyway (it runs with that gid), and it
		// recognises the directory by owner and mode.
		if err2 := os.Chmod(dir, 0o770); err2 != nil {
			return fmt.Errorf("give the worker its socket directory: %w", errors.Join(err, err2))
		}
	}
	return nil
}

// readProcStatus overwrites the kernel-side fields of rep (ids,
// capabilities, no_new_privs, seccomp) with what /proc/<pid>/status says,
// where serve may read it (it may not under hidepid or ProtectProc=).
func readProcStatus(pid int, rep *protocol.SandboxReport) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	cp := *rep
	if cp.ParseProcStatus(b) != nil {
		return false
	}
	*rep = cp
	return true
}

// markInheritedCloexec marks every descriptor of this process above
// stderr close-on-exec: whatever serve inherited from its parent (a shell's
// or a service manager's descriptors) never reaches a worker. Go opens its
// own descriptors close-on-exec already.
func markInheritedCloexec() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}
