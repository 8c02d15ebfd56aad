package events

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/api"
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
// its routes and the asynchronous invoker on the API, starts it, and stops
// it on shutdown. Add it to server.Config.Setup.
func Setup(opts Options) server.SetupFunc {
	return func(ctx context.Context, env *server.Env) (func(), error) {
		svc, err := New(Config{
			Store:               store.NewEventStore(env.Store.Pool()),
			Functions:           env.Functions,
			Invoker:             env.Supervisor,
			Invocations:         env.Invocations,
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
		svc.Routes(env.API.Handle, probeAuth(env.API))
		env.API.SetAsync(svc)
		if err := svc.Start(ctx); err != nil {
			return nil, fmt.Errorf("start events: %w", err)
		}
		return svc.Stop, nil
	}
}

// probeAuth authenticates through the API's own middleware: it registers
// one hidden route per scope that answers 204, and serves a copy of the
// request's Authorization header to it. (An exported API authenticate
// method would make this unnecessary.)
func probeAuth(a *api.API) AuthFunc {
	for _, scope := range []string{scopeRead, scopePublish} {
		a.Handle(http.MethodGet, "/api/v1/_events/auth/"+scope, scope,
			func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) { w.WriteHeader(http.StatusNoContent) })
	}
	return func(r *http.Request, scope string) error {
		probe := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/api/v1/_events/auth/"+scope, nil)
		if v := r.Header.Get("Authorization"); v != "" {
			probe.Header.Set("Authorization", v)
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, probe)
		if rec.Code == http.StatusNoContent {
			return nil
		}
		return &probeError{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
}

// probeError is the API's answer to a failed authentication, passed on
// as it is.
type probeError struct {
	status int
	header http.Header
	body   []byte
}

func (e *probeError) Error() string { return fmt.Sprintf("authentication failed (%d)", e.status) }

func (e *probeError) write(w http.ResponseWriter) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}
