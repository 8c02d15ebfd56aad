package worker

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// syscallNRLimit: numbers from here on are x32 calls.
	syscallNRLimit = 0x40000000
)

// archAllowedSyscalls are the amd64 names of the allow-list (see
// seccomp_linux.go).
var archAllowedSyscalls = []uintptr{unix.SYS_MMAP, unix.SYS_NEWFSTATAT}
