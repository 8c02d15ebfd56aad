// Package wire is the lean half of the supervisor–worker protocol: the
// types of an invocation, the framing of the data path, both ends of a
// data connection, and a minimal go-plugin (net/rpc) server for the
// worker. It imports neither go-plugin nor gRPC, so the worker binary that
// links it starts fast; package protocol re-exports its types and adds the
// go-plugin client side for the supervisor.
package wire

import (
	"context"
	"time"
)

// Trigger names say why a function runs; the Lua handler sees them in
// req.trigger.
const (
	TriggerHTTP       = "http"
	TriggerCron       = "cron"
	TriggerEvent      = "event"
	TriggerDeadLetter = "dead_letter"
)

// Request is one invocation's input, as the Lua handler sees it in req.
type Request struct {
	InvocationID string
	Method       string
	Path         string
	Query        map[string][]string
	Headers      map[string]string // canonical names, lower-cased for Lua
	Body         []byte
	Trigger      string
	// Event is the JSON of req.event for event and dead-letter triggers,
	// nil otherwise.
	Event []byte
}

// Response is what the handler returned, with what it logged and the events
// it emitted (the caller commits those only if the invocation succeeded).
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
	Logs    []LogEntry
	Events  []Event
	// LogsDropped counts log lines dropped over the per-call bound.
	LogsDropped int
}

// LogEntry is one line written by log.debug/info/warn/error.
type LogEntry struct {
	Time    time.Time
	Level   string
	Message string
}

// Event is one events.emit(topic, payload) call; Payload is JSON.
type Event struct {
	Topic   string
	Payload []byte
}

// KVEntry is one key with its JSON value, as kv.list returns them.
type KVEntry struct {
	Key   string
	Value []byte
}

// Host serves the worker's calls for what lies outside the sandbox. Every
// call is scoped to the function (its namespace) that made it. The
// supervisor owns the implementation; the PostgreSQL one lives in store/,
// protocol.MemoryHost is the in-memory one for tests.
type Host interface {
	// KVGet returns the JSON value of key, or found=false.
	KVGet(ctx context.Context, function, key string) (value []byte, found bool, err error)
	// KVSet stores a JSON value; ttl 0 means no expiry.
	KVSet(ctx context.Context, function, key string, value []byte, ttl time.Duration) error
	// KVDelete removes key; deleting a missing key is not an error.
	KVDelete(ctx context.Context, function, key string) error
	// KVIncr adds delta to the integer at key (missing counts as 0) and
	// returns the new value.
	KVIncr(ctx context.Context, function, key string, delta int64) (int64, error)
	// KVList returns up to limit entries whose key starts with prefix, in key
	// order.
	KVList(ctx context.Context, function, prefix string, limit int) ([]KVEntry, error)
	// SecretGet returns the decrypted secret name, or found=false.
	SecretGet(ctx context.Context, function, name string) (value string, found bool, err error)
	// BlobHost: blobs.get/head/put/list/delete/url.
	BlobHost
	// HTTPRequest performs an outbound HTTP request on the function's
	// behalf (workers have no sockets). A refused destination, a cap or a
	// failed request is an error whose message the Lua code sees.
	HTTPRequest(ctx context.Context, function string, req *HTTPRequest) (*HTTPResponse, error)
}

// HTTPRequest is one http.request{...} call of a function.
type HTTPRequest struct {
	Method  string
	URL     string
	Headers map[string]string
	Body    []byte
	// Timeout is what the function asked for; 0 means the call's
	// remaining time (the host never waits past that anyway).
	Timeout time.Duration
}

// HTTPResponse is what http.request returns to Lua. Header names are
// lower-case; repeated headers are joined with ", ".
type HTTPResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
}
