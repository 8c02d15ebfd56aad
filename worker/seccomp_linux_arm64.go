package worker

import "golang.org/x/sys/unix"

const (
	auditArch      = unix.AUDIT_ARCH_AARCH64
	syscallNRLimit = 0x40000000
)

var archDeniedSyscalls = []uintptr{}
