package worker

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// Capabilities and securebits are per thread: every change here goes to
// every thread of the process at once (psx, as go-landlock does).

// Securebits (linux/securebits.h; x/sys/unix has no names for them).
const (
	secbitNoroot                  = 1 << 0
	secbitNorootLocked            = 1 << 1
	secbitNoSetuidFixup           = 1 << 2
	secbitNoSetuidFixupLocked     = 1 << 3
	secbitKeepCapsLocked          = 1 << 5
	secbitNoCapAmbientRaise       = 1 << 6
	secbitNoCapAmbientRaiseLocked = 1 << 7

	// lockedSecurebits: uid 0 gets no capabilities (NOROOT), uid changes
	// neither drop nor grant any (NO_SETUID_FIXUP; there are none left),
	// KEEP_CAPS stays off, ambient capabilities cannot be raised; all of
	// it locked.
	lockedSecurebits = secbitNoroot | secbitNorootLocked | secbitNoSetuidFixup | secbitNoSetuidFixupLocked |
		secbitKeepCapsLocked | secbitNoCapAmbientRaise | secbitNoCapAmbientRaiseLocked
)

// dropCapabilities empties every capability set of every thread. The
// bounding set and securebits need CAP_SETPCAP, which the supervisor hands
// the worker (alone, as an ambient capability) for this when it can; a
// worker started without it empties the other sets and reports the
// bounding set it could not drop.
func dropCapabilities() error {
	var errs []error
	if capEffective()&(1<<unix.CAP_SETPCAP) != 0 {
		if _, _, e := psx.Syscall3(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, lockedSecurebits, 0); e != 0 {
			errs = append(errs, fmt.Errorf("set securebits: %w", e))
		}
		// Each all-threads call stops every thread: drop only what the
		// bounding set holds (4 capabilities under picloud.service, all of
		// them under a root shell).
		for c := 0; ; c++ {
			in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
			if err != nil {
				break // past the kernel's last capability
			}
			if in == 0 {
				continue
			}
			if _, _, e := psx.Syscall3(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 {
				errs = append(errs, fmt.Errorf("drop capability %d from the bounding set: %w", c, e))
				break
			}
		}
	}
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		errs = append(errs, fmt.Errorf("clear ambient capabilities: %w", e))
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if _, _, e := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&none[0])), 0); e != 0 {
		errs = append(errs, fmt.Errorf("clear capabilities: %w", e))
	}
	if len(errs) > 0 {
		return fmt.Errorf("drop capabilities: %v", errs)
	}
	return nil
}

// capEffective is the calling thread's effective set.
func capEffective() uint64 {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32
}
