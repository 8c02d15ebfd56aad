//go:build !linux

package supervisor

import (
	"os"
	"time"
)

// procStats is only implemented on Linux.
func procStats(int) (int64, time.Duration) { return 0, 0 }

// instanceAlive cannot tell without /proc: everything is alive.
func instanceAlive(string) bool { return true }

func procStartTime(int) uint64 { return 0 }

func procStatFields(int) ([]string, bool) { return nil, false }

// lockRunDir takes no lock without flock support here.
func lockRunDir(string) (*os.File, error) { return nil, nil }

// runDirLocked cannot tell: every run directory counts as locked.
func runDirLocked(string) bool { return true }
