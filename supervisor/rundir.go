package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// runDirPrefix starts the name of a supervisor's run directory in the
// temporary directory: picloud-run-<pid>-<starttime>-<random>. It holds one
// directory per worker, the worker's TMPDIR, where go-plugin and the worker
// put their sockets.
const runDirPrefix = "picloud-run-"

// runDirLockName is the file in a run directory its supervisor holds an
// exclusive flock on for as long as it runs.
const runDirLockName = ".lock"

// makeRunDir removes the run directories of supervisors that are gone (a
// crash leaves them behind) and makes this supervisor's, locked: the
// returned file holds the lock and must stay open while the directory is
// in use. A directory whose owner looks dead by pid and start time is
// still left alone while its lock is held: pids differ across pid
// namespaces sharing one /tmp (and qemu-user's start times drift), the
// lock does not.
func makeRunDir(log hclog.Logger) (string, *os.File, error) {
	tmp := os.TempDir()
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			name, ok := strings.CutPrefix(e.Name(), runDirPrefix)
			dir := filepath.Join(tmp, e.Name())
			if ok && e.IsDir() && !instanceAlive(name) && !runDirLocked(dir) {
				_ = os.RemoveAll(dir)
				log.Debug("removed stale run directory", "dir", e.Name())
			}
		}
	}
	dir, err := os.MkdirTemp(tmp, fmt.Sprintf("%s%d-%d-", runDirPrefix, os.Getpid(), procStartTime(os.Getpid())))
	if err != nil {
		return "", nil, fmt.Errorf("create run directory: %w", err)
	}
	lock, err := lockRunDir(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("lock run directory %s: %w", dir, err)
	}
	return dir, lock, nil
}
