// Package api is PiCloud's HTTP surface: the data plane (/fn/NAME), the
// control plane (/api/v1/...) with bearer-token auth and scopes, health
// endpoints, and the JSON error answers all of them share.
//
// Scopes per route (admin may do everything):
//
//	GET  /healthz, /readyz                         public
//	ANY  /fn/:name, /fn/:name/*rest                public, or invoke for private functions
//	GET  /api/v1/functions[/:name[/versions]]      read
//	POST /api/v1/functions                         deploy
//	PUT, DELETE /api/v1/functions/:name            deploy
//	POST /api/v1/functions/:name/rollback          deploy
//	POST /api/v1/functions/:name/invoke            invoke
//	GET  /api/v1/invocations[/:id]                 read
//	GET  /api/v1/workers                           read
//	GET  /api/v1/secrets                           read (names only, never values)
//	PUT, DELETE /api/v1/secrets/:name              deploy
//	GET, POST /api/v1/tokens, DELETE .../:name     admin
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// Deps are what the API needs. Every field but Async and Ready is required.
type Deps struct {
	// Store is the control plane's database access.
	Store *store.Store
	// Functions serves function metadata on the hot path (the store's
	// FunctionCache: no database round trip when warm).
	Functions FunctionGetter
	// Tokens looks bearer tokens up by hash (the store's TokenCache: no
	// database round trip when warm, revocations heard over NOTIFY); nil
	// means Store.TokenByHash on every request.
	Tokens TokenGetter
	// Invocations records invocations off the request path (the store's
	// InvocationWriter).
	Invocations InvocationRecorder
	// Supervisor runs the functions.
	Supervisor *supervisor.Supervisor
	// ValidateSource checks a script before it is stored, in a sandboxed
	// worker process (supervisor.ValidateSource), never in this one; a
	// *SourceError becomes a 422 with its line and column.
	ValidateSource func(ctx context.Context, source string) error
	// Logger receives request failures (5xx) and panics.
	Logger hclog.Logger
	// MaxBodyBytes bounds request bodies (413 beyond).
	MaxBodyBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// FunctionGetter returns a function with its current version's source,
// store.ErrNotFound (wrapped) when there is none (store.FunctionCache).
type FunctionGetter interface {
	Get(ctx context.Context, name string) (*store.Function, error)
	// Invalidate drops name at once after a change made on this node, so
	// that the next call sees it without waiting for the notification.
	Invalidate(name string)
}

// TokenGetter returns the live token whose secret hashes to hash,
// store.ErrNotFound (wrapped) if none or revoked.
type TokenGetter interface {
	Get(ctx context.Context, hash []byte) (*store.Token, error)
}

// InvocationRecorder takes an invocation record without blocking; false
// means it was dropped (store.InvocationWriter).
type InvocationRecorder interface {
	Add(inv store.Invocation) bool
}

// AsyncInvoker enqueues an asynchronous invocation of fn (the events
// service) and returns the invocation id.
type AsyncInvoker interface {
	InvokeAsync(ctx context.Context, fn *store.Function, req *protocol.Request) (string, error)
}

// EventRecorder records a finished synchronous invocation together with
// the events its handler emitted (protocol.Response.Events), in one
// transaction, publishing them only if inv succeeded (the events service,
// installed by events.Setup). The API uses it only for calls that emitted
// events; every other record goes through the batched writer. An *Error
// return has been recorded already and is the caller's answer (for
// example events with an invalid topic); any other error means nothing
// was recorded or published.
type EventRecorder interface {
	RecordInvocation(ctx context.Context, inv store.Invocation, emitted []protocol.Event) error
}

// API is the HTTP handler of PiCloud. Build it with New, add routes with
// Handle before serving.
type API struct {
	deps    Deps
	log     hclog.Logger
	now     func() time.Time
	router  *httprouter.Router
	maxBody int64
	async   AsyncInvoker
	events  EventRecorder
	observe func(inv *store.Invocation)
}

var _ http.Handler = (*API)(nil)

// New builds the API and its routes.
func New(d Deps) (*API, error) {
	switch {
	case d.Store == nil, d.Functions == nil, d.Invocations == nil, d.Supervisor == nil:
		return nil, errors.New("api: Store, Functions, Invocations and Supervisor are required")
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 6 << 20
	}
	a := &API{
		deps:    d,
		log:     d.Logger.Named("api"),
		now:     d.Now,
		router:  httprouter.New(),
		maxBody: d.MaxBodyBytes,
	}
	if d.Tokens == nil {
		a.deps.Tokens = storeTokens{d.Store}
	}
	a.router.RedirectFixedPath = false
	a.router.HandleOPTIONS = false
	a.router.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, errorf(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, truncate(r.URL.Path, 200)))
	})
	a.router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"method %s is not allowed on %s (allowed: %s)", truncate(r.Method, 20), truncate(r.URL.Path, 200), w.Header().Get("Allow")))
	})
	a.routes()
	return a, nil
}

// SetAsync installs the events service's asynchronous invoker (call it
// before serving). Without one, async requests get 501.
func (a *API) SetAsync(ai AsyncInvoker) { a.async = ai }

// SetEvents installs the recorder of invocations that emitted events (the
// events service; call it before serving). Without one, events emitted by
// synchronous calls are dropped with a warning.
func (a *API) SetEvents(er EventRecorder) { a.events = er }

// SetInvocationObserver installs a function told about every invocation
// the API runs synchronously (/fn and .../invoke), with its record, after
// the answer is known: metrics count outcomes and durations with it. It
// must return quickly and not keep inv. Call before serving.
func (a *API) SetInvocationObserver(observe func(inv *store.Invocation)) { a.observe = observe }

// Handle registers an extra route behind the API's middleware. scope ""
// makes it public; otherwise a bearer token with that scope (or admin) is
// required and PrincipalFrom(r.Context()) returns it. Call before serving.
func (a *API) Handle(method, path, scope string, h httprouter.Handle) {
	if scope == "" {
		a.router.Handle(method, path, h)
		return
	}
	a.router.Handle(method, path, func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		p, err := a.authenticate(r, scope)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		h(w, r.WithContext(WithPrincipal(r.Context(), p)), ps)
	})
}

// HandleHTTP is Handle for a plain http.Handler (/metrics, the dashboard).
func (a *API) HandleHTTP(method, path, scope string, h http.Handler) {
	a.Handle(method, path, scope, func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		h.ServeHTTP(w, r)
	})
}

// handlerFunc is a route handler that returns its error for writeErr.
type handlerFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error

// handle registers one of the API's own routes.
func (a *API) handle(method, path, scope string, h handlerFunc) {
	a.Handle(method, path, scope, func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if err := h(w, r, ps); err != nil {
			a.writeErr(w, r, err)
		}
	})
}

func (a *API) routes() {
	a.handle(http.MethodGet, "/healthz", "", a.healthz)
	a.handle(http.MethodHead, "/healthz", "", a.healthz)
	a.handle(http.MethodGet, "/readyz", "", a.readyz)
	a.handle(http.MethodHead, "/readyz", "", a.readyz)

	a.handle(http.MethodGet, "/api/v1/functions", ScopeRead, a.listFunctions)
	a.handle(http.MethodPost, "/api/v1/functions", ScopeDeploy, a.createFunction)
	a.handle(http.MethodGet, "/api/v1/functions/:name", ScopeRead, a.getFunction)
	a.handle(http.MethodPut, "/api/v1/functions/:name", ScopeDeploy, a.updateFunction)
	a.handle(http.MethodDelete, "/api/v1/functions/:name", ScopeDeploy, a.deleteFunction)
	a.handle(http.MethodGet, "/api/v1/functions/:name/versions", ScopeRead, a.listVersions)
	a.handle(http.MethodPost, "/api/v1/functions/:name/rollback", ScopeDeploy, a.rollback)
	a.handle(http.MethodPost, "/api/v1/functions/:name/invoke", ScopeInvoke, a.invoke)

	a.handle(http.MethodGet, "/api/v1/invocations", ScopeRead, a.listInvocations)
	a.handle(http.MethodGet, "/api/v1/invocations/:id", ScopeRead, a.getInvocation)

	a.handle(http.MethodGet, "/api/v1/tokens", ScopeAdmin, a.listTokens)
	a.handle(http.MethodPost, "/api/v1/tokens", ScopeAdmin, a.createToken)
	a.handle(http.MethodDelete, "/api/v1/tokens/:name", ScopeAdmin, a.revokeToken)

	a.handle(http.MethodGet, "/api/v1/workers", ScopeRead, a.workers)

	a.handle(http.MethodGet, "/api/v1/secrets", ScopeRead, a.listSecrets)
	a.handle(http.MethodPut, "/api/v1/secrets/:name", ScopeDeploy, a.setSecret)
	a.handle(http.MethodDelete, "/api/v1/secrets/:name", ScopeDeploy, a.deleteSecret)

	// The data plane: any method. Auth depends on the function, so these
	// routes are public here and fnHandler checks private functions.
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		a.router.Handle(m, "/fn/:name", a.serveFn)
		a.router.Handle(m, "/fn/:name/*rest", a.serveFn)
	}
}

// ServeHTTP bounds the body, recovers from panics and routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			a.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			WriteError(w, internalError(fmt.Errorf("panic: %v", v)))
		}
	}()
	if r.ContentLength > a.maxBody {
		WriteError(w, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			"request body of %d bytes is larger than the limit of %s", r.ContentLength, ByteSize(a.maxBody)))
		return
	}
	if r.ContentLength != 0 {
		r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
	}
	a.router.ServeHTTP(w, r)
}

// WriteError writes err as the JSON error answer: an *Error with its status,
// anything else as a 500 (extension routes use it too).
func WriteError(w http.ResponseWriter, err error) {
	e := asError(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="picloud"`)
	}
	writeJSON(w, e.Status, e.body())
}

// WriteJSON writes v as a JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// DecodeJSON reads the request body into v as the API's own routes do:
// bounded, no unknown fields, errors that say where (an *Error).
func DecodeJSON(r *http.Request, v any) error { return decodeJSON(r, v, false) }

// writeErr logs server-side failures and writes the answer.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status >= 500 && e.Err != nil {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "error", e.Err)
	}
	WriteError(w, e)
}

// storeTokens looks tokens up in the database on every request.
type storeTokens struct{ s *store.Store }

func (t storeTokens) Get(ctx context.Context, hash []byte) (*store.Token, error) {
	return t.s.TokenByHash(ctx, hash)
}
