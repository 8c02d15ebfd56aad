package wire

// Kinds of *CallError: what went wrong inside a call the worker survived.
const (
	// KindScript is a Lua error: a runtime error in the handler, a compile
	// error at Load, a sandbox denial or a host-side cap (string.rep, ...).
	KindScript = "script"
	// KindTimeout is the per-call timeout enforced inside the Lua VM.
	KindTimeout = "timeout"
	// KindMemory is the worker's heap watch failing the call before the
	// kernel's OOM killer would end the process.
	KindMemory = "memory"
)

// CallError is a failure inside one call (or a compile error at Load) that
// the worker reported and survived: the worker keeps serving. Any other error
// from WorkerClient means the transport broke (the worker died or was killed)
// and the supervisor decides why.
type CallError struct {
	// Kind is KindScript, KindTimeout or KindMemory.
	Kind string
	// Message is what a user sees: "hello.lua:3: attempt to index a nil
	// value", "timed out after 200ms", "memory limit of 32 MiB exceeded".
	Message string
	// Traceback is the Lua stack traceback for script errors, if any.
	Traceback string
	// Logs and LogsDropped are what the call logged before it failed.
	Logs        []LogEntry
	LogsDropped int
}

// Error returns the message; the kind is in Kind.
func (e *CallError) Error() string { return e.Message }
