package worker

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_ARM
	// syscallNRLimit is above the ARM private calls (0x0f0000...).
	syscallNRLimit = 0x40000000
)

// archAllowedSyscalls are the armhf names of the allow-list (see
// seccomp_linux.go): mmap2, the 64-bit file and time variants of 32-bit
// ARM, and sigreturn.
var archAllowedSyscalls = []uintptr{
	unix.SYS_MMAP2, unix.SYS_FSTAT64, unix.SYS_FSTATAT64, unix.SYS_FCNTL64,
	unix.SYS_FUTEX_TIME64, unix.SYS_CLOCK_GETTIME64, unix.SYS_SIGRETURN,
}
