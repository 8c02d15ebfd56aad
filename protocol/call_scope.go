package protocol

import (
	"context"
	"sync/atomic"
	"time"
)

// CallScope is what the supervisor knows about the call a host call
// belongs to, and the worker cannot be trusted to say: the function
// version that runs it, what that version was granted at deploy, the
// call's deadline and the worker serving it. The supervisor puts it in the
// context of every call (WithCallScope); a Host reads it with
// CallScopeFrom. Host calls of one call share one CallScope, so it also
// counts what the call has used.
type CallScope struct {
	// Function and Version name the function version running the call.
	Function string
	Version  int
	// AllowNet are the version's outbound network grants (deploy
	// --allow-net): host, host:port, CIDR or *.suffix patterns.
	AllowNet []string
	// Deadline is the call's deadline, decided by the supervisor.
	Deadline time.Time
	// Worker identifies the worker process serving the call (unique per
	// supervisor), to bound what one worker has in flight.
	Worker uint64

	httpRequests atomic.Int64
}

// AddHTTPRequest counts one more outbound request of the call and returns
// how many it has made, this one included.
func (s *CallScope) AddHTTPRequest() int64 { return s.httpRequests.Add(1) }

type callScopeKey struct{}

// WithCallScope returns ctx carrying s.
func WithCallScope(ctx context.Context, s *CallScope) context.Context {
	return context.WithValue(ctx, callScopeKey{}, s)
}

// CallScopeFrom returns the CallScope of ctx, or nil outside a call.
func CallScopeFrom(ctx context.Context) *CallScope {
	s, _ := ctx.Value(callScopeKey{}).(*CallScope)
	return s
}
