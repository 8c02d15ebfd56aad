package supervisor

import (
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/clock"
	"github.com/picloud/picloud/protocol"
)

// Defaults of Config.
const (
	// DefaultMaxWorkersTotal bounds the worker processes of one node. An idle
	// worker costs about 10 MiB of RSS and a busy one at most its memory
	// limit (64 MiB by default); 16 workers fit a 1 GiB Raspberry Pi with room
	// left for the serve process, PostgreSQL and the page cache.
	DefaultMaxWorkersTotal = 16
	// DefaultQueueTimeout is how long a request waits for a free worker slot
	// before Invoke returns ErrOverloaded.
	DefaultQueueTimeout = 5 * time.Second
	// DefaultDrainTimeout bounds how long Stop waits for calls in flight
	// before it kills their workers.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultCgroupName is the parent cgroup of every worker cgroup.
	DefaultCgroupName = "picloud"
	// DefaultWorkerBinary is the companion worker binary looked up next to
	// the running executable.
	DefaultWorkerBinary = "picloud-worker"
)

// Config configures a Supervisor. The zero value of every field but Host is
// usable.
type Config struct {
	// WorkerPath is the worker executable and WorkerArgs its arguments.
	// Empty means picloud-worker next to os.Executable(), or, where that
	// does not exist, os.Executable() itself with the argument "worker".
	WorkerPath string
	WorkerArgs []string

	// Host serves the workers' host calls (kv, secrets). Nil means every
	// host call fails.
	Host protocol.Host

	// Logger receives the supervisor's logs; nil discards them.
	Logger hclog.Logger

	// MaxWorkersTotal caps the worker processes on this node (all functions
	// together); 0 means DefaultMaxWorkersTotal. At the cap, idle workers of
	// other functions are evicted first.
	MaxWorkersTotal int

	// SpareWorkers is how many generic spare workers (started, sandboxed,
	// no function loaded) the supervisor keeps ready for cold starts; 0
	// means none (every cold start execs a worker). At most
	// MaxSpareWorkers; they do not count against MaxWorkersTotal.
	SpareWorkers int

	// QueueTimeout bounds how long a request waits for a worker slot before
	// ErrOverloaded; 0 means DefaultQueueTimeout.
	QueueTimeout time.Duration

	// DrainTimeout bounds how long Stop waits for the calls in flight
	// before it kills their workers; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// RequireLimits makes unenforceable limits (no cgroups, no delegation,
	// memory controller off) an error from Start instead of a loud warning.
	RequireLimits bool

	// WorkerUser is who workers run as: "NAME", "NAME:GROUP", "UID" or
	// "UID:GID". Empty means DefaultWorkerUser when that user exists.
	// Switching needs root or CAP_SETUID and CAP_SETGID; where serve cannot
	// switch, workers run as its own uid and the status and log say so.
	WorkerUser string

	// RequireSandbox refuses workers whose sandbox lacks any layer (own
	// uid, no capabilities, no_new_privs, seccomp, Landlock, closed
	// descriptors), and makes a worker user that cannot be switched to an
	// error from Start.
	RequireSandbox bool

	// CgroupName is the name of the parent cgroup created under the
	// supervisor's own cgroup; empty means DefaultCgroupName.
	CgroupName string

	// DisableCgroups runs workers without cgroups even where they could be
	// managed (limits are then reported as unenforced).
	DisableCgroups bool

	// Clock gives the time and arms every timer (idle, queue, backstop,
	// start backoff, drain); nil means the real clock.
	Clock Clock

	// Observer is told about cold starts, worker exits and queueing (for
	// metrics); nil means nobody listens.
	Observer Observer
}

// Clock is the time source of the supervisor, replaceable in tests
// (clock.Fake).
type Clock = clock.Clock

// Timer is a timer armed by Clock.AfterFunc.
type Timer = clock.Timer

// Observer receives events for metrics. Methods are called synchronously
// and must return quickly; they may be called from many goroutines.
type Observer interface {
	// ColdStart reports a worker started for fn and how long the start took
	// (process start, handshake and load of the source).
	ColdStart(fn string, d time.Duration)
	// WorkerExit reports a worker gone, with why: "idle", "evicted",
	// "replaced", "removed", "stopped", "timeout", "memory", "crash".
	WorkerExit(fn, reason string)
	// Queued reports a request that waited d for a worker slot.
	Queued(fn string, d time.Duration)
	// Overloaded reports a request refused with ErrOverloaded.
	Overloaded(fn string)
}

type nopObserver struct{}

func (nopObserver) ColdStart(string, time.Duration) {}
func (nopObserver) WorkerExit(string, string)       {}
func (nopObserver) Queued(string, time.Duration)    {}
func (nopObserver) Overloaded(string)               {}

// workerCommand resolves the worker executable and its arguments.
func (c *Config) workerCommand() (string, []string, error) {
	if c.WorkerPath != "" {
		return c.WorkerPath, c.WorkerArgs, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	companion := filepath.Join(filepath.Dir(self), DefaultWorkerBinary)
	if st, err := os.Stat(companion); err == nil && st.Mode().IsRegular() {
		return companion, c.WorkerArgs, nil
	}
	return self, append([]string{"worker"}, c.WorkerArgs...), nil
}
