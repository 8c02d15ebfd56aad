package functions

import (
	"fmt"
	"runtime"
	"time"
)

// Limits are the per-function knobs of a pool and its workers.
type Limits struct {
	MemoryBytes int64         // memory maximum of one worker (cgroup), default 64 MiB
	CPU         float64       // CPU quota in cores, default 0.5
	Timeout     time.Duration // per call, default 10s
	Concurrency int           // concurrent calls per worker, default 4
	MinWarm     int           // workers kept warm, default 0
	MaxWorkers  int           // workers in the pool, default 2
	IdleTimeout time.Duration // idle worker stopped after this, default 60s
}

// Ranges accepted by Limits.Validate.
const (
	MinMemory      = 16 << 20
	MaxMemory      = 2 << 30
	MinCPU         = 0.05
	MinTimeout     = 100 * time.Millisecond
	MaxTimeout     = 15 * time.Minute
	MinIdleTimeout = time.Second
	MaxConcurrency = 1024
	MaxPoolWorkers = 64
)

// DefaultLimits returns the limits a function gets when deployed without
// flags.
func DefaultLimits() Limits {
	return Limits{
		MemoryBytes: 64 << 20,
		CPU:         0.5,
		Timeout:     10 * time.Second,
		Concurrency: 4,
		MinWarm:     0,
		MaxWorkers:  2,
		IdleTimeout: 60 * time.Second,
	}
}

// LimitError says which limit is out of range and what range is accepted.
type LimitError struct {
	Field   string
	Message string
}

func (e *LimitError) Error() string { return e.Field + ": " + e.Message }

// Validate checks every field against its accepted range and returns a
// *LimitError for the first one out of range.
func (l Limits) Validate() error {
	switch {
	case l.MemoryBytes < MinMemory || l.MemoryBytes > MaxMemory:
		return &LimitError{"memory", fmt.Sprintf("%d bytes is out of range: use 16MiB to 2GiB", l.MemoryBytes)}
	case l.CPU < MinCPU || l.CPU > float64(runtime.NumCPU()):
		return &LimitError{"cpu", fmt.Sprintf("%g is out of range: use %g to %d cores", l.CPU, MinCPU, runtime.NumCPU())}
	case l.Timeout < MinTimeout || l.Timeout > MaxTimeout:
		return &LimitError{"timeout", fmt.Sprintf("%s is out of range: use 100ms to 15m", l.Timeout)}
	case l.Concurrency < 1 || l.Concurrency > MaxConcurrency:
		return &LimitError{"concurrency", fmt.Sprintf("%d is out of range: use 1 to %d", l.Concurrency, MaxConcurrency)}
	case l.MaxWorkers < 1 || l.MaxWorkers > MaxPoolWorkers:
		return &LimitError{"max_workers", fmt.Sprintf("%d is out of range: use 1 to %d", l.MaxWorkers, MaxPoolWorkers)}
	case l.MinWarm < 0 || l.MinWarm > l.MaxWorkers:
		return &LimitError{"min_warm", fmt.Sprintf("%d is out of range: use 0 to max_workers (%d)", l.MinWarm, l.MaxWorkers)}
	case l.IdleTimeout < MinIdleTimeout:
		return &LimitError{"idle_timeout", fmt.Sprintf("%s is too short: use at least 1s", l.IdleTimeout)}
	}
	return nil
}

// Spec is one immutable version of a deployed function: what a worker pool
// runs.
type Spec struct {
	Name    string
	Version int
	Source  string
	SHA256  string // hex sha256 of Source
	Limits  Limits
	// AllowNet are the outbound destinations this version was granted at
	// deploy beyond public addresses (--allow-net): host, host:port, CIDR
	// or *.suffix patterns, checked by package outbound.
	AllowNet []string

	// The HTTP front and config of the version (front.go).
	CORSOrigins []string          // allowed Origins, sorted; AnyOrigin alone for any
	Rate        RateLimit         // zero: no limit
	Env         map[string]string // env.KEY in Lua; nil: none
}
