//go:build sandboxprobe && linux

package worker

// The sandbox probe: built only with -tags sandboxprobe (by the
// supervisor's TestSandboxProbe_EveryEscapeFails), never in a release. It
// gives Lua one extra global, sandbox_probe(name, arg), which makes native
// escape attempts from inside the running worker, as a script would after
// a memory-safety bug in gopher-lua, and returns "allowed" or the error.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"
)

// openProbe registers sandbox_probe.
func openProbe(L *lua.LState) {
	L.SetGlobal("sandbox_probe", L.NewFunction(func(L *lua.LState) int {
		name, arg := L.CheckString(1), L.OptString(2, "")
		L.Push(lua.LString(probeAttempt(name, arg)))
		return 1
	}))
}

// probeAttempts are the escapes sandbox_probe knows.
var probeAttempts = map[string]func(arg string) error{
	"io_uring_socket":    probeIOUringSocket,
	"socket":             func(string) error { return closeFD(unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)) },
	"connect_unix":       probeConnectUnix,
	"clone_newuser":      func(string) error { return probeClone(unix.CLONE_NEWUSER) },
	"clone_newnet":       func(string) error { return probeClone(unix.CLONE_NEWNET) },
	"clone_newns":        func(string) error { return probeClone(unix.CLONE_NEWNS) },
	"clone3":             probeClone3,
	"unshare":            probeUnshare,
	"prlimit_parent":     probePrlimitParent,
	"setpriority_parent": probeSetpriorityParent,
	"memfd_create":       func(string) error { return closeFD(unix.MemfdCreate("probe", 0)) },
	"modify_ldt":         probeModifyLDT,
	"mknod_block":        probeMknodBlock,
	"execve":             func(string) error { return syscall.Exec("/bin/true", []string{"true"}, nil) },
	"inherited_fd":       probeInheritedFD,
	"read_file":          func(arg string) error { _, err := os.ReadFile(arg); return err },
	"parent_environ": func(arg string) error {
		_, err := os.ReadFile("/proc/" + arg + "/environ")
		return err
	},
	"bpf":    func(string) error { return rawErr(unix.SYS_BPF, unix.BPF_PROG_LOAD, 0, 0) },
	"keyctl": func(string) error { return rawErr(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, 0, 0) },
	"ptrace": func(arg string) error {
		pid, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		return rawErr(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, uintptr(pid), 0)
	},
	"setuid_root": func(string) error {
		return rawErr(unix.SYS_SETRESUID, 0, 0, 0)
	},
}

// probeAttempt runs one attempt on its own locked thread, so that whatever
// it changes about its thread (unshare, credentials) dies with it.
func probeAttempt(name, arg string) string {
	f := probeAttempts[name]
	if f == nil {
		return "unknown attempt " + name
	}
	res := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		err := f(arg)
		if err == nil {
			res <- "allowed"
			return
		}
		res <- err.Error()
	}()
	return <-res
}

func closeFD(fd int, err error) error {
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func rawErr(nr, a1, a2, a3 uintptr) error {
	_, _, e := unix.Syscall(nr, a1, a2, a3)
	if e != 0 {
		return e
	}
	return nil
}

// probeClone forks a child in new namespaces; the child exits at once.
func probeClone(flags uintptr) error {
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(int(pid), &ws, 0, nil)
	return nil
}

// probeClone3 calls clone3 with a size the kernel refuses (EINVAL when it
// gets that far): the filter must answer ENOSYS first.
func probeClone3(string) error {
	var args [88]byte
	return rawErr(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), 1, 0)
}

func probeUnshare(string) error { return unix.Unshare(unix.CLONE_NEWUTS | unix.CLONE_NEWNET) }

// probePrlimitParent reads the core limit of process arg (serve) and
// writes it back.
func probePrlimitParent(arg string) error {
	pid, err := strconv.Atoi(arg)
	if err != nil {
		return err
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_CORE, nil, &lim); err != nil {
		return err
	}
	return unix.Prlimit(pid, unix.RLIMIT_CORE, &lim, nil)
}

// probeSetpriorityParent writes the nice value of process arg (serve)
// back unchanged.
func probeSetpriorityParent(arg string) error {
	pid, err := strconv.Atoi(arg)
	if err != nil {
		return err
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, pid)
	if err != nil {
		return err
	}
	return unix.Setpriority(unix.PRIO_PROCESS, pid, 20-prio)
}

func probeModifyLDT(string) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("no modify_ldt on %s", runtime.GOARCH)
	}
	var buf [16]byte
	return rawErr(154, 0, uintptr(unsafe.Pointer(&buf)), uintptr(len(buf))) // SYS_MODIFY_LDT, read
}

// socketDir finds the worker's socket directory from its data listener.
func socketDir() string {
	for fd := 3; fd < 64; fd++ {
		if sa, err := unix.Getsockname(fd); err == nil {
			if un, ok := sa.(*unix.SockaddrUnix); ok && strings.HasSuffix(un.Name, "data.sock") {
				return filepath.Dir(un.Name)
			}
		}
	}
	return ""
}

func probeMknodBlock(string) error {
	dir := socketDir()
	if dir == "" {
		return fmt.Errorf("no socket directory found")
	}
	p := filepath.Join(dir, "sda")
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0))); err != nil {
		return err
	}
	_ = unix.Unlink(p)
	return nil
}

// probeInheritedFD reads descriptor N of arg "N:CONTENT" and succeeds if
// it holds CONTENT (the number may have been reused by the worker).
func probeInheritedFD(arg string) error {
	num, want, _ := strings.Cut(arg, ":")
	fd, err := strconv.Atoi(num)
	if err != nil {
		return err
	}
	b := make([]byte, len(want))
	n, err := unix.Pread(fd, b, 0)
	if err != nil {
		return err
	}
	if string(b[:n]) != want {
		return fmt.Errorf("descriptor %d is not the inherited file", fd)
	}
	return nil
}

func probeConnectUnix(arg string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: arg})
}

// io_uring, by hand (x/sys has no constants for it).
const (
	ioringOpSocket   = 45
	ioringOpConnect  = 16
	ioringEnterWait  = 1
	ioringOffSQRing  = 0
	ioringOffCQRing  = 0x8000000
	ioringOffSQEs    = 0x10000000
	ioringFeatSingle = 1
)

type ioSQRingOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type ioCQRingOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, CQEs, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type ioUringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFd uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  ioSQRingOffsets
	CQOff                                                                  ioCQRingOffsets
}

type ioSQE struct {
	Opcode, Flags uint8
	Ioprio        uint16
	Fd            int32
	Off           uint64
	Addr          uint64
	Len           uint32
	RWFlags       uint32
	UserData      uint64
	Pad           [3]uint64
}

// probeIOUringSocket makes an AF_UNIX socket with IORING_OP_SOCKET and,
// with arg a socket path, connects it with IORING_OP_CONNECT.
func probeIOUringSocket(arg string) error {
	var p ioUringParams
	r, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return fmt.Errorf("io_uring_setup: %w", e)
	}
	ring := int(r)
	defer unix.Close(ring)
	sqSize := int(p.SQOff.Array + p.SQEntries*4)
	cqSize := int(p.CQOff.CQEs + p.CQEntries*16)
	if p.Features&ioringFeatSingle != 0 {
		sqSize = max(sqSize, cqSize)
	}
	sq, err := unix.Mmap(ring, ioringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap sq ring: %w", err)
	}
	defer unix.Munmap(sq)
	cq := sq
	if p.Features&ioringFeatSingle == 0 {
		if cq, err = unix.Mmap(ring, ioringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			return fmt.Errorf("mmap cq ring: %w", err)
		}
		defer unix.Munmap(cq)
	}
	sqesMem, err := unix.Mmap(ring, ioringOffSQEs, int(p.SQEntries)*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap sqes: %w", err)
	}
	defer unix.Munmap(sqesMem)
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	submit := func(sqe ioSQE) (int32, error) {
		tail := atomic.LoadUint32(u32(sq, p.SQOff.Tail))
		idx := tail & *u32(sq, p.SQOff.RingMask)
		*(*ioSQE)(unsafe.Pointer(&sqesMem[idx*64])) = sqe
		*u32(sq, p.SQOff.Array+idx*4) = idx
		atomic.StoreUint32(u32(sq, p.SQOff.Tail), tail+1)
		if _, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(ring), 1, 1, ioringEnterWait, 0, 0); e != 0 {
			return 0, fmt.Errorf("io_uring_enter: %w", e)
		}
		head := atomic.LoadUint32(u32(cq, p.CQOff.Head))
		cqe := p.CQOff.CQEs + (head&*u32(cq, p.CQOff.RingMask))*16
		res := *(*int32)(unsafe.Pointer(&cq[cqe+8]))
		atomic.StoreUint32(u32(cq, p.CQOff.Head), head+1)
		return res, nil
	}
	res, err := submit(ioSQE{Opcode: ioringOpSocket, Fd: unix.AF_UNIX, Off: unix.SOCK_STREAM})
	if err != nil {
		return err
	}
	if res < 0 {
		return fmt.Errorf("IORING_OP_SOCKET: %w", syscall.Errno(-res))
	}
	sock := int(res)
	defer unix.Close(sock)
	if arg == "" {
		return nil
	}
	var sa unix.RawSockaddrUnix
	sa.Family = unix.AF_UNIX
	for i := 0; i < len(arg) && i < len(sa.Path)-1; i++ {
		sa.Path[i] = int8(arg[i])
	}
	res, err = submit(ioSQE{Opcode: ioringOpConnect, Fd: int32(sock), Addr: uint64(uintptr(unsafe.Pointer(&sa))),
		Off: uint64(2 + len(arg) + 1)})
	runtime.KeepAlive(&sa)
	if err != nil {
		return err
	}
	if res < 0 {
		return fmt.Errorf("IORING_OP_CONNECT: %w", syscall.Errno(-res))
	}
	return nil
}
