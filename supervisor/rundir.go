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

// makeRunDir removes the run directories of supervisors that are gone (a
// crash leaves them behind) and makes this supervisor's.
func makeRunDir(log hclog.Logger) (string, error) {
	tmp := os.TempDir()
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			name, ok := strings.CutPrefix(e.Name(), runDirPrefix)
			if ok && e.IsDir() && !instanceAlive(name) {
				_ = os.RemoveAll(filepath.Join(tmp, e.Name()))
				log.Debug("removed stale run directory", "dir", e.Name())
			}
		}
	}
	dir, err := os.MkdirTemp(tmp, fmt.Sprintf("%s%d-%d-", runDirPrefix, os.Getpid(), procStartTime(os.Getpid())))
	if err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	return dir, nil
}
