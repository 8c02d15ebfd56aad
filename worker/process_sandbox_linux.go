package worker

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"

	"github.com/picloud/picloud/protocol/wire"
)

// sandboxResult says what applyProcessSandbox achieved.
type sandboxResult struct {
	landlockABI int
	summary     string
	report      wire.SandboxReport
}

// applyProcessSandbox restricts the whole process (every thread), in this
// order: no capabilities (every set, securebits locked), no_new_privs,
// Landlock (the socket directory's listing and removal only; no TCP, no
// unix socket connect, no signals out), then the seccomp allow-list. The
// uid and gid were set by the supervisor when it started us; inherited
// descriptors were closed first thing (inheritedFDs of them). It then
// reads back from the kernel what holds and reports it: a failed layer is
// reported, not fatal here; the supervisor decides (--require-sandbox
// refuses such a worker).
func applyProcessSandbox(dir string, inheritedFDs int) sandboxResult {
	rep := wire.SandboxReport{InheritedFDsClosed: inheritedFDs}
	fail := func(err error) { rep.Errors = append(rep.Errors, err.Error()) }
	if err := dropCapabilities(); err != nil {
		fail(err)
	}
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		fail(fmt.Errorf("set no_new_privs: %w", e))
	}
	rep.FDs = describeFDs()
	if bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0); err == nil {
		rep.Securebits = uint32(bits)
	}
	// Opened now, read once every layer is in place (Landlock closes the
	// filesystem, reading an open file stays allowed).
	status, statusErr := os.Open("/proc/self/status")
	abi, err := applyLandlock(dir)
	rep.LandlockABI = abi
	if err != nil {
		rep.Landlock = err.Error()
		fail(err)
	} else {
		rep.Landlock = "enforced"
	}
	if err := loadSeccomp(); err != nil {
		fail(fmt.Errorf("seccomp: %w", err))
	}
	if statusErr != nil {
		fail(fmt.Errorf("read back /proc/self/status: %w", statusErr))
	} else {
		b, err := io.ReadAll(status)
		status.Close()
		if err != nil {
			fail(fmt.Errorf("read back /proc/self/status: %w", err))
		}
		if err := rep.ParseProcStatus(b); err != nil {
			fail(err)
		}
	}
	return sandboxResult{landlockABI: abi, summary: summarize(&rep), report: rep}
}

// summarize is the one-line form of rep.
func summarize(rep *wire.SandboxReport) string {
	parts := []string{fmt.Sprintf("uid %d gid %d", rep.UID[1], rep.GID[1])}
	if rep.CapInh|rep.CapPrm|rep.CapEff|rep.CapBnd|rep.CapAmb == 0 {
		parts = append(parts, "no capabilities")
	} else {
		parts = append(parts, fmt.Sprintf("capabilities eff %x bnd %x", rep.CapEff, rep.CapBnd))
	}
	if rep.NoNewPrivs {
		parts = append(parts, "no_new_privs")
	}
	if rep.Landlock == "enforced" {
		parts = append(parts, fmt.Sprintf("landlock abi %d", rep.LandlockABI))
	} else {
		parts = append(parts, rep.Landlock)
	}
	if rep.SeccompMode == 2 {
		parts = append(parts, "seccomp allow-list")
	} else {
		parts = append(parts, fmt.Sprintf("seccomp mode %d", rep.SeccompMode))
	}
	parts = append(parts, fmt.Sprintf("%d fds (%d inherited closed)", len(rep.FDs), rep.InheritedFDsClosed))
	return strings.Join(parts, ", ")
}
