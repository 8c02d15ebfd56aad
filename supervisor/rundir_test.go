//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A run directory whose name points at a dead process (as a live
// supervisor's does when seen from another pid namespace sharing /tmp) is
// kept while its owner holds the lock, and removed once the lock is gone.
func TestRunDir_LockedDirectoryOfADeadLookingOwnerIsKept(t *testing.T) {
	// 4194303 is above every pid_max: no such process.
	require.False(t, instanceAlive("4194303-1-x"))
	dir, err := os.MkdirTemp("", runDirPrefix+"4194303-1-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	lock, err := lockRunDir(dir)
	require.NoError(t, err)

	own, ownLock, err := makeRunDir(testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { ownLock.Close(); os.RemoveAll(own) })
	require.DirExists(t, dir, "a locked run directory is someone's, whatever its name says")
	require.FileExists(t, filepath.Join(own, runDirLockName))
	require.True(t, runDirLocked(own))

	require.NoError(t, lock.Close())
	require.False(t, runDirLocked(dir))
	own2, ownLock2, err := makeRunDir(testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { ownLock2.Close(); os.RemoveAll(own2) })
	require.NoDirExists(t, dir, "unlocked and its owner gone: stale")
	require.DirExists(t, own, "this process's other run directory is alive")
}
