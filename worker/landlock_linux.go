package worker

import (
	"fmt"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// socketDirAccess is all a sandboxed worker may do in its socket
// directory: list and remove what is in it (its sockets, when it stops).
// Its sockets exist before the sandbox, and connecting to them is the
// supervisor's business; no file is read, written, made or executed there,
// and no device node made anywhere.
const socketDirAccess = llsys.AccessFSReadDir | llsys.AccessFSRemoveFile | llsys.AccessFSRemoveDir

// applyLandlock restricts every thread to socketDirAccess on dir and
// nothing else on the filesystem, no TCP bind or connect, no pathname unix
// socket connect (ABI 9), no signals or abstract unix sockets outside the
// worker (ABI 6), each as far as the kernel's ABI goes. A kernel without
// Landlock is reported as such, not passed over: abi 0 and an error.
func applyLandlock(dir string) (abi int, err error) {
	abi, err = llsys.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		if err == nil {
			err = fmt.Errorf("abi %d", abi)
		}
		return 0, fmt.Errorf("landlock unavailable: %w", err)
	}
	// V11 handles every right go-landlock knows; BestEffort narrows that to
	// what this kernel's ABI has (checked above to be at least 1).
	if err := landlock.V11.BestEffort().Restrict(landlock.PathAccess(socketDirAccess, dir)); err != nil {
		return abi, fmt.Errorf("landlock failed: %w", err)
	}
	return abi, nil
}
