package supervisor

import (
	"errors"

	"github.com/picloud/picloud/protocol"
)

// ErrOverloaded is returned by Invoke when the pool is at its maximum
// workers and concurrency and the request waited its bounded time in the
// queue. The HTTP layer answers 503 with Retry-After.
var ErrOverloaded = errors.New("function is overloaded: every worker is busy")

// ErrStopped is returned by Invoke once Stop has begun.
var ErrStopped = errors.New("supervisor is stopping")

// ErrorKind classifies an invocation failure.
type ErrorKind string

// Kinds of InvokeError.
const (
	KindScript  ErrorKind = "script"  // the Lua code raised an error
	KindTimeout ErrorKind = "timeout" // the call ran past its timeout
	KindMemory  ErrorKind = "memory"  // the worker hit its memory limit
	KindCrash   ErrorKind = "crash"   // the worker died (signal, exit)
	KindStart   ErrorKind = "start"   // the worker could not be started
)

// InvokeError is a failed invocation with a message meant for the user:
// "timed out after 10s", "memory limit of 64 MiB exceeded",
// "worker exited: signal 9", or the Lua error with its line.
type InvokeError struct {
	Kind    ErrorKind
	Message string
	// Traceback is the Lua traceback of a script error; it goes to the
	// invocation's logs, never to the caller of a public function.
	Traceback string
	// Logs and LogsDropped are what the call logged before it failed, when
	// the worker survived to report them (script, timeout and memory errors
	// reported by the worker; empty when the worker died).
	Logs        []protocol.LogEntry
	LogsDropped int
}

func (e *InvokeError) Error() string { return e.Message }
