//go:build linux && (amd64 || arm64 || arm)

package worker

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A seccomp allow-list written directly as a classic BPF program: the
// go-seccomp-bpf package builds syscall tables for every architecture in
// its package init (~0.6 ms on every worker start), and the filter we need
// is a short list of compile-time syscall numbers.
//
// What a worker calls once sandboxed was measured on amd64 with strace on
// a busy worker (bench/straceworker, `make strace-worker`): 8 clients × 300
// calls with kv/secrets/events host calls, logs, json, script errors,
// timeouts (300 ms busy loops) and a memory bomb against a 48 MiB limit,
// Stats calls, 3 s idle, then a graceful stop:
//
//	strace -f -c -S calls -p <worker pid>   (attached after Load)
//
//	sched_yield futex nanosleep read write epoll_pwait madvise pread64
//	rt_sigreturn getpid tgkill sched_getaffinity mmap epoll_ctl accept4
//	rt_sigprocmask close getsockname sigaltstack gettid clone unlinkat
//	munmap restart_syscall
//
// (exit and exit_group never return, so strace -c does not count them.)
// The same load on arm64 and armhf binaries under qemu-user (`qemu-aarch64
// -strace`, `qemu-arm -strace`; qemu has no vDSO, hence clock_gettime)
// called, after the sandbox:
//
//	arm64: clock_gettime nanosleep futex tgkill getpid rt_sigreturn pread64
//	       epoll_pwait sched_yield read write madvise epoll_ctl accept4
//	       sched_getaffinity close getsockname mmap rt_sigprocmask
//	       sigaltstack gettid unlinkat clone openat exit_group
//	armhf: the same with futex_time64 and mmap2
//
// To these the list adds what Go's runtime may call on rarer paths
// (rt_sigaction, clock_gettime and gettimeofday when the vDSO is not used,
// getrandom, brk, exit, exit_group), what a cgo build's threads need, and
// what os.RemoveAll of the socket directory needs when the worker stops
// (openat, fstat, newfstatat, getdents64, fcntl; Landlock and the worker's
// own uid bound what openat reaches). The arm64 and armhf lists are the
// same names in each architecture's numbering (x/sys/unix
// zsysnum_linux_<arch>.go, see seccomp_linux_<arch>.go), plus the 32-bit
// time and file variants armhf has. Everything else fails with EPERM,
// clone3 with ENOSYS (so that Go's runtime, or glibc's pthread_create in a
// cgo build, falls back to clone); clone only makes threads (CLONE_THREAD,
// no namespace flags); kill and tgkill reach only this process; prlimit64
// only this process (pid 0). So io_uring_*, socket, connect, unshare,
// setns, clone with namespaces, memfd_create, modify_ldt, mknod, ptrace,
// bpf, keyctl, setpriority, execve and the rest are refused.
var allowedSyscalls = []uintptr{
	// The busy path first (the filter is a linear scan).
	unix.SYS_FUTEX, unix.SYS_SCHED_YIELD, unix.SYS_NANOSLEEP, unix.SYS_READ, unix.SYS_WRITE,
	unix.SYS_EPOLL_PWAIT, unix.SYS_MADVISE, unix.SYS_PREAD64, unix.SYS_RT_SIGRETURN, unix.SYS_GETPID,
	unix.SYS_SCHED_GETAFFINITY, unix.SYS_EPOLL_CTL, unix.SYS_ACCEPT4,
	unix.SYS_RT_SIGPROCMASK, unix.SYS_CLOSE, unix.SYS_GETSOCKNAME, unix.SYS_SIGALTSTACK, unix.SYS_GETTID,
	unix.SYS_MUNMAP, unix.SYS_RESTART_SYSCALL,
	unix.SYS_RT_SIGACTION, unix.SYS_CLOCK_GETTIME, unix.SYS_GETTIMEOFDAY, unix.SYS_GETRANDOM, unix.SYS_BRK,
	unix.SYS_EXIT, unix.SYS_EXIT_GROUP,
	unix.SYS_OPENAT, unix.SYS_GETDENTS64, unix.SYS_UNLINKAT, unix.SYS_FCNTL, unix.SYS_FSTAT,
	// A cgo build's threads (glibc's pthread_create: clone3 gets ENOSYS and
	// it falls back to clone; the stack's guard page, the robust futex
	// list, restartable sequences). Release builds are CGO_ENABLED=0.
	unix.SYS_MPROTECT, unix.SYS_SET_ROBUST_LIST, unix.SYS_RSEQ,
}

// Flags clone must not have: every namespace.
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer;
// __u64 args[6] (little-endian on every architecture we build for).
const (
	offNR      = 0
	offArch    = 4
	offArg0Lo  = 16
	offArg0Hi  = 20
	retAllow   = unix.SECCOMP_RET_ALLOW
	retEPERM   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	labelAllow = "allow"
	labelDeny  = "deny"
)

// seccompFilter builds the program for a process whose pid is pid: a
// foreign architecture (e.g. 32-bit calls on a 64-bit kernel) and any
// syscall not allowed get EPERM.
func seccompFilter(pid int) ([]unix.SockFilter, error) {
	var a bpfAsm
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch)
	a.jump(unix.BPF_JEQ|unix.BPF_K, auditArch, "", labelDeny)
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNR)
	// x32 calls on amd64 (nr >= 0x40000000): deny.
	a.jump(unix.BPF_JGE|unix.BPF_K, syscallNRLimit, labelDeny, "")
	a.jump(unix.BPF_JEQ|unix.BPF_K, unix.SYS_CLONE, "clone", "")
	a.jump(unix.BPF_JEQ|unix.BPF_K, unix.SYS_TGKILL, "self", "")
	a.jump(unix.BPF_JEQ|unix.BPF_K, unix.SYS_KILL, "self", "")
	a.jump(unix.BPF_JEQ|unix.BPF_K, unix.SYS_PRLIMIT64, "pid0", "")
	a.jump(unix.BPF_JEQ|unix.BPF_K, unix.SYS_CLONE3, "enosys", "")
	for _, nr := range append(append([]uintptr(nil), allowedSyscalls...), archAllowedSyscalls...) {
		a.jump(unix.BPF_JEQ|unix.BPF_K, uint32(nr), labelAllow, "")
	}
	// None of the above.
	a.stmt(unix.BPF_RET|unix.BPF_K, retEPERM)

	// clone(flags, ...): threads only, in no new namespace.
	a.label("clone")
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Lo)
	a.jump(unix.BPF_JSET|unix.BPF_K, cloneNamespaceFlags, labelDeny, "")
	a.jump(unix.BPF_JSET|unix.BPF_K, unix.CLONE_THREAD, labelAllow, labelDeny)

	// kill(pid, sig), tgkill(tgid, tid, sig): this process only.
	a.label("self")
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Hi)
	a.jump(unix.BPF_JEQ|unix.BPF_K, 0, "", labelDeny)
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Lo)
	a.jump(unix.BPF_JEQ|unix.BPF_K, uint32(pid), labelAllow, labelDeny)

	// prlimit64(pid, ...): pid 0 (this process) only.
	a.label("pid0")
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Hi)
	a.jump(unix.BPF_JEQ|unix.BPF_K, 0, "", labelDeny)
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Lo)
	a.jump(unix.BPF_JEQ|unix.BPF_K, 0, labelAllow, labelDeny)

	a.label(labelDeny)
	a.stmt(unix.BPF_RET|unix.BPF_K, retEPERM)
	a.label(labelAllow)
	a.stmt(unix.BPF_RET|unix.BPF_K, retAllow)
	a.label("enosys")
	a.stmt(unix.BPF_RET|unix.BPF_K, retENOSYS)
	return a.assemble()
}

// bpfAsm assembles a classic BPF program with named forward jump targets
// (BPF only jumps forward, by at most 255 instructions).
type bpfAsm struct {
	prog   []unix.SockFilter
	labels map[string]int
	jumps  []bpfJump
}

// bpfJump is a conditional jump waiting for its targets; "" is the next
// instruction.
type bpfJump struct {
	at     int
	jt, jf string
}

func (a *bpfAsm) stmt(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

func (a *bpfAsm) jump(op uint16, k uint32, jt, jf string) {
	a.jumps = append(a.jumps, bpfJump{at: len(a.prog), jt: jt, jf: jf})
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_JMP | op, K: k})
}

func (a *bpfAsm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.prog)
}

// assemble resolves the jumps.
func (a *bpfAsm) assemble() ([]unix.SockFilter, error) {
	offset := func(at int, target string) (uint8, error) {
		if target == "" {
			return 0, nil
		}
		to, ok := a.labels[target]
		if !ok {
			return 0, fmt.Errorf("seccomp filter: no label %q", target)
		}
		d := to - at - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("seccomp filter: jump from %d to %q (%d) out of range", at, target, to)
		}
		return uint8(d), nil
	}
	for _, j := range a.jumps {
		var err error
		if a.prog[j.at].Jt, err = offset(j.at, j.jt); err != nil {
			return nil, err
		}
		if a.prog[j.at].Jf, err = offset(j.at, j.jf); err != nil {
			return nil, err
		}
	}
	if len(a.prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp filter of %d instructions is too long", len(a.prog))
	}
	return a.prog, nil
}

// loadSeccomp sets no_new_privs and installs the filter on every thread of
// the process (SECCOMP_FILTER_FLAG_TSYNC, which also sets no_new_privs on
// every thread).
func loadSeccomp() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	prog, err := seccompFilter(os.Getpid())
	if err != nil {
		return err
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
