package worker

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// syscallNRLimit: numbers from here on are x32 calls.
	syscallNRLimit = 0x40000000
)

var archDeniedSyscalls = []uintptr{unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_IOPL, unix.SYS_IOPERM}
