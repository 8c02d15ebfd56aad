package worker

import (
	"fmt"
	"strings"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// sandboxResult says what applyProcessSandbox achieved.
type sandboxResult struct {
	landlockABI int
	summary     string
}

// applyProcessSandbox restricts the whole process (every thread): no new
// privileges, Landlock (best effort) allowing only the socket directory
// and denying TCP, and a seccomp deny-list. Failures are reported in the
// summary, not fatal: the cgroup and the Lua sandbox still hold.
func applyProcessSandbox(dir string) sandboxResult {
	var parts []string
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		parts = append(parts, "no_new_privs failed: "+err.Error())
	} else {
		parts = append(parts, "no_new_privs")
	}

	abi, err := llsys.LandlockGetABIVersion()
	if err != nil {
		abi = 0
	}
	if abi > 0 {
		if err := landlock.V11.BestEffort().Restrict(landlock.RWDirs(dir)); err != nil {
			parts = append(parts, "landlock failed: "+err.Error())
		} else {
			parts = append(parts, fmt.Sprintf("landlock abi %d", abi))
		}
	} else {
		parts = append(parts, "landlock unavailable")
	}

	if err := loadSeccomp(); err != nil {
		parts = append(parts, "seccomp failed: "+err.Error())
	} else {
		parts = append(parts, "seccomp deny-list")
	}
	return sandboxResult{landlockABI: abi, summary: strings.Join(parts, ", ")}
}
