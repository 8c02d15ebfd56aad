package events

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/server"
	"github.com/picloud/picloud/store"
)

// Options are the events settings of `picloud serve` (flags), applied over
// the Config defaults; zero fields keep the defaults.
type Options struct {
	// RetryBase is --retry-base (default 1s).
	RetryBase time.Duration
	// Workers is the number of jobs this node works at once.
	Workers int
	// RescueAfter: jobs of a dead node are retried after this.
	RescueAfter time.Duration
	// EventRetention, InvocationRetention: pruning ages.
	EventRetention      time.Duration
	InvocationRetention time.Duration
}

// Setup returns the server hook that builds the events service, registers
// on the API its routes, the asynchronous invoker and the recorder of
// synchronous calls that emitted events, starts it, and stops it on
// shutdown. Add it to server.Config.Setup.
func Setup(opts Options) server.SetupFunc {
	return func(ctx context.Context, env *server.Env) (func(), error) {
		svc, err := New(Config{
			Store:               store.NewEventStore(env.Store.Pool()),
			Functions:           env.Functions,
			Invoker:             env.Supervisor,
			Invocations:         env.Invocations,
			ObserveCall:         env.ObserveCall,
			Logger:              env.Logger,
			RetryBase:           opts.RetryBase,
			Workers:             opts.Workers,
			RescueAfter:         opts.RescueAfter,
			EventRetention:      opts.EventRetention,
			InvocationRetention: opts.InvocationRetention,
			Stopping:            env.Stopping,
		})
		if err != nil {
			return nil, err
		}
		svc.Routes(env.API.Handle, env.API.Authenticate)
		env.API.SetAsync(svc)
		env.API.SetEvents(eventRecorder{svc})
		if err := svc.Start(ctx); err != nil {
			return nil, fmt.Errorf("start events: %w", err)
		}
		return svc.Stop, nil
	}
}

// eventRecorder is the API's api.EventRecorder: the service's
// RecordInvocation, with emitted events that cannot be published (bad
// topic, payload not JSON or too large) answered as the handler's failure.
type eventRecorder struct{ svc *Service }

var _ api.EventRecorder = eventRecorder{}

// RecordInvocation records inv with the events it emitted. When inv
// succeeded but its events are invalid, inv is recorded as failed with the
// reason, nothing is published, and the answer is a 500 script_error
// naming the bad event.
func (e eventRecorder) RecordInvocation(ctx context.Context, inv functions.Invocation, emitted []protocol.Event) error {
	if inv.Status == functions.StatusSucceeded {
		if _, err := emittedEvents(inv.Function, emitted); err != nil {
			inv.Status, inv.Error = functions.StatusFailed, trimInvalid(err)
			if rerr := e.svc.RecordInvocation(ctx, inv, nil); rerr != nil {
				return fmt.Errorf("record invocation %s with invalid events: %w", inv.ID, rerr)
			}
			return &api.Error{Status: http.StatusInternalServerError, Code: api.CodeScriptError, Message: inv.Error}
		}
	}
	return e.svc.RecordInvocation(ctx, inv, emitted)
}
