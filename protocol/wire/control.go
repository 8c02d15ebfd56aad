package wire

import (
	"errors"
	"time"
)

// Handshake values shared with protocol.Handshake (go-plugin's
// HandshakeConfig). The cookie only tells a worker it was started by a
// supervisor; it is not a secret.
//
// Protocol versions:
//
//	1: net/rpc control plugin "worker" (Info, Load, Stats) plus the framed
//	   unix-socket data path of codec.go.
//	2: a call frame carries the call's absolute deadline (was: a relative
//	   timeout, with defaults on both sides); FunctionSpec.LoadDeadline
//	   replaces FunctionSpec.Timeout.
const (
	ProtocolVersion  = 2
	MagicCookieKey   = "PICLOUD_WORKER_COOKIE"
	MagicCookieValue = "b1f3c0de-picloud-worker-v1"
	// PluginName is the one plugin a worker serves.
	PluginName = "worker"
)

// FunctionSpec is the function version a worker serves, with its limits.
type FunctionSpec struct {
	Name    string
	Version int
	// Source is the Lua script defining handle(req).
	Source string
	// LoadDeadline bounds Load: compiling the source and running its top
	// level must end by then (decided by the supervisor from the function's
	// timeout). Each call's deadline travels in its own call frame.
	LoadDeadline time.Time
	// MemoryBytes is the worker's memory maximum (its cgroup limit); the
	// worker sets its Go memory limit and heap watch from it. 0: unlimited.
	MemoryBytes int64
	// Concurrency is the number of concurrent calls (data connections and
	// pooled Lua states) the worker serves.
	Concurrency int
	// Env is the version's non-secret config, env.KEY in Lua (read-only).
	// Added after protocol version 2 without a bump: gob leaves it nil
	// for an older peer, which then sees no env.
	Env map[string]string
}

// WorkerInfo is what a worker says about itself right after the handshake.
type WorkerInfo struct {
	PID int
	// SocketDir is the worker's private directory (mode 0700) holding its
	// sockets; SocketPath is the data socket in it.
	SocketDir  string
	SocketPath string
	// LandlockABI is the Landlock ABI version found (0: none) and Sandbox
	// a one-line summary of the defenses applied.
	LandlockABI int
	Sandbox     string
	// SandboxReport is what the sandbox applied, layer by layer (nil from
	// a worker that predates it).
	SandboxReport *SandboxReport
}

// WorkerStats are a worker's counters.
type WorkerStats struct {
	// HeapBytes is the Go heap in use, SysBytes all memory the Go runtime
	// holds from the OS.
	HeapBytes uint64
	SysBytes  uint64
	// PooledStates is the number of *lua.LState kept for reuse.
	PooledStates int
	CallsServed  uint64
	InFlight     int
}

// Worker is what a worker process serves on the control channel; the worker
// package implements it and hands it to Serve.
type Worker interface {
	// Info applies the process sandbox (once) and describes the worker.
	Info() (WorkerInfo, error)
	// Load compiles and initialises the function; a compile or top-level
	// error is a *CallError of KindScript.
	Load(spec FunctionSpec) error
	// Stats returns the counters.
	Stats() (WorkerStats, error)
}

// ControlServer is the net/rpc receiver of the control calls (registered as
// "Plugin", as go-plugin does); it is exported only because net/rpc needs
// exported methods.
type ControlServer struct{ impl Worker }

// NewControlServer wraps a Worker for net/rpc.
func NewControlServer(w Worker) *ControlServer { return &ControlServer{impl: w} }

// LoadReply carries a *CallError through net/rpc (whose own errors are
// plain strings).
type LoadReply struct{ Err *CallError }

// Info serves Worker.Info.
func (s *ControlServer) Info(_ struct{}, reply *WorkerInfo) error {
	info, err := s.impl.Info()
	*reply = info
	return err
}

// Load serves Worker.Load.
func (s *ControlServer) Load(spec FunctionSpec, reply *LoadReply) error {
	err := s.impl.Load(spec)
	var ce *CallError
	if errors.As(err, &ce) {
		reply.Err = ce
		return nil
	}
	return err
}

// Stats serves Worker.Stats.
func (s *ControlServer) Stats(_ struct{}, reply *WorkerStats) error {
	st, err := s.impl.Stats()
	*reply = st
	return err
}
