// Package protocol is the contract between the supervisor and its worker
// subprocesses: the go-plugin handshake and client (ClientConfig, Dispense,
// WorkerClient), the request and response of one invocation, and the host
// calls a worker makes back to the supervisor for everything outside its
// sandbox (key-value data, secrets, outbound HTTP), with the CallScope the
// supervisor gives each call.
//
// The types and the data path live in package wire, which the worker
// binary imports without go-plugin (whose gRPC and protobuf packages would
// double a cold start); this package re-exports them under the same names.
//
// Data path: after the go-plugin handshake, Dispense asks the worker for
// its data socket (a unix socket in a private 0700 directory). Each
// concurrent call uses its own connection, served in the worker by one
// long-lived goroutine with its own pooled Lua state, speaking
// length-prefixed frames: a call frame, host-call request/reply frames
// (kv, secrets, http) answered by the supervisor on the same connection, then a
// result or error frame.
//
// Deadlines: the supervisor decides each call's deadline once (the
// function's timeout, or its caller's earlier deadline) and the call frame
// carries it as an absolute time; the worker ends the call there and
// reports a timeout. Nothing between them has a timeout of its own.
//
// Validation: the worker binary also has a validate mode (wire.ValidateArg)
// in which it compiles a source read on stdin, so that serve never parses
// untrusted Lua itself.
package protocol

import "github.com/picloud/picloud/protocol/wire"

// Trigger names say why a function runs; the Lua handler sees them in
// req.trigger.
const (
	TriggerHTTP       = wire.TriggerHTTP
	TriggerCron       = wire.TriggerCron
	TriggerEvent      = wire.TriggerEvent
	TriggerDeadLetter = wire.TriggerDeadLetter
)

// Kinds of *CallError.
const (
	KindScript  = wire.KindScript
	KindTimeout = wire.KindTimeout
	KindMemory  = wire.KindMemory
)

// The types of the protocol, defined in package wire.
type (
	// Request is one invocation's input, as the Lua handler sees it in req.
	Request = wire.Request
	// Response is what the handler returned, with its logs and events.
	Response = wire.Response
	// LogEntry is one line written by log.debug/info/warn/error.
	LogEntry = wire.LogEntry
	// Event is one events.emit(topic, payload) call; Payload is JSON.
	Event = wire.Event
	// KVEntry is one key with its JSON value, as kv.list returns them.
	KVEntry = wire.KVEntry
	// Host serves the worker's calls for what lies outside the sandbox.
	Host = wire.Host
	// HTTPRequest is one outbound http.request of a function.
	HTTPRequest = wire.HTTPRequest
	// HTTPResponse is what an outbound request answered.
	HTTPResponse = wire.HTTPResponse
	// BlobMeta is a blob's metadata as the Lua blobs module sees it.
	BlobMeta = wire.BlobMeta
	// CallError is a failure inside one call that the worker survived.
	CallError = wire.CallError
	// HostError is an error a Host returned, as the worker sees it.
	HostError = wire.HostError
	// FunctionSpec is the function version a worker serves, with limits.
	FunctionSpec = wire.FunctionSpec
	// WorkerInfo is what a worker says about itself after the handshake.
	WorkerInfo = wire.WorkerInfo
	// SandboxReport is what a worker's process sandbox applied.
	SandboxReport = wire.SandboxReport
	// WorkerStats are a worker's counters.
	WorkerStats = wire.WorkerStats
	// SyntaxError is a source's syntax or compile error with its position.
	SyntaxError = wire.SyntaxError
	// ValidateResult is what a worker in validate mode answers.
	ValidateResult = wire.ValidateResult
)

// MaxFrameBytes bounds one frame of the data path.
const MaxFrameBytes = wire.MaxFrameBytes
