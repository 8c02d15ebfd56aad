//go:build linux && (amd64 || arm64 || arm)

package worker

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A seccomp deny-list written directly as a classic BPF program: the
// go-seccomp-bpf package builds syscall tables for every architecture in
// its package init (~0.6 ms on every worker start), and the filter we need
// is a short list of compile-time syscall numbers.

// deniedSyscalls fail with EPERM once the filter is loaded: starting
// programs, new sockets (accept on the existing listeners still works),
// reading or debugging other processes, and changing the system. The
// numbers of the current architecture come from x/sys/unix;
// archDeniedSyscalls adds the ones only some architectures have.
var deniedSyscalls = []uintptr{
	unix.SYS_EXECVE, unix.SYS_EXECVEAT,
	unix.SYS_SOCKET, unix.SYS_SOCKETPAIR,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_KCMP,
	unix.SYS_PIDFD_GETFD, unix.SYS_PIDFD_OPEN,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_FSOPEN,
	unix.SYS_FSMOUNT, unix.SYS_FSCONFIG, unix.SYS_FSPICK, unix.SYS_MOUNT_SETATTR,
	unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT, unix.SYS_UNSHARE, unix.SYS_SETNS,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_SETUID, unix.SYS_SETGID, unix.SYS_SETREUID, unix.SYS_SETREGID,
	unix.SYS_SETRESUID, unix.SYS_SETRESGID, unix.SYS_SETGROUPS,
	unix.SYS_ACCT, unix.SYS_QUOTACTL, unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_ADJTIMEX,
	unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME, unix.SYS_SYSLOG, unix.SYS_PERSONALITY,
}

// seccompFilter builds the program: a foreign architecture (e.g. 32-bit
// calls on a 64-bit kernel) and the listed syscalls get EPERM, the rest is
// allowed.
func seccompFilter() []unix.SockFilter {
	denied := append(append([]uintptr(nil), deniedSyscalls...), archDeniedSyscalls...)
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
	}
	const (
		offNR   = 0 // struct seccomp_data: int nr; __u32 arch; ...
		offArch = 4
	)
	deny := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	n := len(denied)
	prog := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		// Our architecture: go on; else jump to the deny at the end.
		jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, auditArch, 0, uint8(n+3)),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNR),
		// x32 calls on amd64 (nr >= 0x40000000): deny.
		jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, syscallNRLimit, uint8(n+1), 0),
	}
	for i, nr := range denied {
		// Match: jump to the deny, n-i instructions ahead (past the allow).
		prog = append(prog, jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, uint32(nr), uint8(n-i), 0))
	}
	prog = append(prog,
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
		stmt(unix.BPF_RET|unix.BPF_K, deny),
	)
	return prog
}

// loadSeccomp sets no_new_privs and installs the filter on every thread of
// the process (SECCOMP_FILTER_FLAG_TSYNC).
func loadSeccomp() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	prog := seccompFilter()
	if len(prog) > 255 {
		return fmt.Errorf("seccomp filter of %d instructions is too long for 8-bit jumps", len(prog))
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("load seccomp filter: %w", errno)
	}
	if r != 0 {
		return fmt.Errorf("load seccomp filter: thread %d could not be synchronised", r)
	}
	return nil
}
