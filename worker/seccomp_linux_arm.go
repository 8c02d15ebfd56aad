package worker

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_ARM
	// syscallNRLimit is above the ARM private calls (0x0f0000...).
	syscallNRLimit = 0x40000000
)

var archDeniedSyscalls = []uintptr{
	unix.SYS_FORK, unix.SYS_VFORK,
	unix.SYS_SETUID32, unix.SYS_SETGID32, unix.SYS_SETREUID32, unix.SYS_SETREGID32,
	unix.SYS_SETRESUID32, unix.SYS_SETRESGID32, unix.SYS_SETGROUPS32, unix.SYS_CLOCK_SETTIME64,
}
