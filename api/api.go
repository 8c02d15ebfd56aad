// Package api is PiCloud's HTTP surface: the data plane (/fn/NAME), the
// control plane (/api/v1/...) with bearer-token auth and scopes, health
// endpoints, and the JSON error answers all of them share.
//
// Scopes per route (admin may do everything):
//
//	GET  /healthz, /readyz                         public
//	ANY  /fn/:name, /fn/:name/*rest                public, or invoke for private functions
//	GET  /api/v1/functions[/:name[/versions[/:v]]] read
//	POST /api/v1/functions                         deploy (+ secrets to grant new secrets)
//	PUT, DELETE /api/v1/functions/:name            deploy (+ secrets to grant new secrets)
//	POST /api/v1/functions/:name/rollback          deploy (+ secrets if the version has more grants)
//	POST /api/v1/functions/:name/invoke            invoke
//	GET  /api/v1/invocations[/:id]                 read
//	GET  /api/v1/workers                           read
//	GET  /api/v1/nodes                             read
//	GET  /api/v1/secrets                           read (names only, never values)
//	PUT, DELETE /api/v1/secrets/:name              secrets
//	GET, POST /api/v1/tokens, DELETE .../:name     admin
//	GET  /api/v1/blobs/:bucket[/*key], HEAD        read (GET/HEAD of a key: or a signed URL)
//	PUT, DELETE /api/v1/blobs/:bucket/*key         blobs
//	POST /api/v1/blob-urls                         read
//
// Roles (Deps.Roles): a data node serves /fn/* and .../invoke, a control
// node the rest of /api; a request for a role the node lacks gets 421
// with code wrong_role. Health and metrics are served by every node.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// Deps are what the API needs. Functions, Invoker and Supervisor are
// required; a nil Store leaves the control plane's database routes out
// (handler unit tests), a nil Events the events routes.
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
	// Invoker runs and records the synchronous calls (/fn, .../invoke).
	Invoker *invoke.Invoker
	// Supervisor deploys versions to the node's workers and reports them.
	Supervisor Supervisor
	// Events is the events service: async invocations, publishing,
	// dead-letter retries, stream tickets and subscriptions. Nil answers
	// those routes 501.
	Events Events
	// ValidateSource checks a script before it is stored, in a sandboxed
	// worker process (supervisor.ValidateSource), never in this one; a
	// *SourceError becomes a 422 with its line and column.
	ValidateSource func(ctx context.Context, source string) error
	// Logger receives request failures (5xx) and panics.
	Logger hclog.Logger
	// MaxBodyBytes bounds request bodies (413 beyond).
	MaxBodyBytes int64
	// MaxResponse bounds a function's answer body (502 beyond); default
	// 16 MiB.
	MaxResponse int64
	// WriteTimeout bounds the time one answer may take to send (from when
	// the function returned, for /fn); default 30s. The event stream has
	// none.
	WriteTimeout time.Duration
	// StreamHeartbeat is the event stream's comment interval (default 15s).
	StreamHeartbeat time.Duration
	// Stopping, when closed, ends the event streams and fails /readyz
	// (the drain began).
	Stopping <-chan struct{}
	// Ready, if set, is asked by /readyz before the database: an error
	// (say, the node cannot heartbeat) answers 503 with its message.
	Ready func() error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Roles are the node's roles; requests for another role get 421. The
	// zero value serves everything.
	Roles Roles
	// Nodes lists the cluster's nodes (GET /api/v1/nodes) and their
	// workers (GET /api/v1/workers); nil means Store, or this node alone
	// without a Store.
	Nodes Nodes
	// NodeID is this node's id in the registry.
	NodeID string

	// TrustedProxies may give a /fn caller's address with X-Forwarded-For
	// (per-IP rate limits); nil means loopback only, where Caddy runs.
	TrustedProxies []netip.Prefix
	// BlobMaxSize bounds one blob (413 beyond; picloud serve
	// --blob-max-size); 0 means none. Blob uploads are not bound by
	// MaxBodyBytes.
	BlobMaxSize int64
	// BlobBucketQuota bounds the bytes of one bucket (507 beyond); 0 means
	// none.
	BlobBucketQuota int64
}

// Nodes is the node registry (store.Store).
type Nodes interface {
	ListNodes(ctx context.Context) ([]store.Node, error)
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

// Supervisor is what the API needs of the node's supervisor.
type Supervisor interface {
	Deploy(ctx context.Context, fn functions.Spec) error
	// CheckMinWarm says whether min_warm workers of function name fit
	// under the node's worker cap beside the other functions' (a
	// *functions.LimitError when not).
	CheckMinWarm(name string, minWarm int) error
	Remove(name string)
	Status() supervisor.Status
}

// Events is what the API needs of the events service (events.Service).
type Events interface {
	InvokeAsync(ctx context.Context, fn *store.Function, req *protocol.Request) (string, error)
	Publish(ctx context.Context, topic string, payload json.RawMessage, source string) (events.Published, error)
	PublishBatch(ctx context.Context, topic string, payloads []json.RawMessage, source string) ([]events.Published, error)
	RetryDeadLetter(ctx context.Context, id int64) (store.DeadLetter, error)
	IssueTicket(ctx context.Context, tokenID int64, topics []string) (string, time.Time, error)
	CheckTicket(ctx context.Context, ticket string) (events.Ticket, error)
	Subscribe(ctx context.Context, tokenID int64, topics []string) (*events.Subscription, error)
	Unsubscribe(sub *events.Subscription)
}

// API is the HTTP handler of PiCloud. Build it with New, add routes with
// Handle before serving.
type API struct {
	deps    Deps
	log     hclog.Logger
	now     func() time.Time
	router  *httprouter.Router
	maxBody int64
	events  Events
	evst    *store.EventStore
	// heartbeat is the event stream's comment interval.
	heartbeat time.Duration

	// rates are this node's rate-limit buckets of /fn (fn_ratelimit.go).
	rates *rateLimits
}

var _ http.Handler = (*API)(nil)

// New builds the API and its routes.
func New(d Deps) (*API, error) {
	switch {
	case d.Functions == nil, d.Invoker == nil, d.Supervisor == nil:
		return nil, errors.New("api: Functions, Invoker and Supervisor are required")
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
	if d.MaxResponse <= 0 {
		d.MaxResponse = 16 << 20
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 30 * time.Second
	}
	if d.StreamHeartbeat <= 0 {
		d.StreamHeartbeat = 15 * time.Second
	}
	d.Roles = d.Roles.orAll()
	a := &API{
		deps:    d,
		log:     d.Logger.Named("api"),
		now:     d.Now,
		router:  httprouter.New(),
		maxBody: d.MaxBodyBytes,
		events:  d.Events,

		heartbeat: d.StreamHeartbeat,

		rates: newRateLimits(),
	}
	if d.Tokens == nil && d.Store != nil {
		a.deps.Tokens = storeTokens{d.Store}
	}
	if d.Store != nil {
		a.evst = d.Store.Events()
		if d.Nodes == nil {
			a.deps.Nodes = d.Store
		}
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
	a.handle(http.MethodGet, "/api/v1/functions/:name/versions/:version", ScopeRead, a.getVersion)
	a.handle(http.MethodPost, "/api/v1/functions/:name/rollback", ScopeDeploy, a.rollback)
	a.handle(http.MethodPost, "/api/v1/functions/:name/invoke", ScopeInvoke, a.invoke)

	a.handle(http.MethodGet, "/api/v1/invocations", ScopeRead, a.listInvocations)
	a.handle(http.MethodGet, "/api/v1/invocations/:id", ScopeRead, a.getInvocation)

	a.handle(http.MethodGet, "/api/v1/tokens", ScopeAdmin, a.listTokens)
	a.handle(http.MethodPost, "/api/v1/tokens", ScopeAdmin, a.createToken)
	a.handle(http.MethodDelete, "/api/v1/tokens/:name", ScopeAdmin, a.revokeToken)

	a.handle(http.MethodGet, "/api/v1/workers", ScopeRead, a.workers)
	a.handle(http.MethodGet, "/api/v1/nodes", ScopeRead, a.listNodes)

	a.eventRoutes()

	if d := a.deps; d.Store != nil {
		a.blobRoutes()
	}

	a.handle(http.MethodGet, "/api/v1/secrets", ScopeRead, a.listSecrets)
	a.handle(http.MethodPut, "/api/v1/secrets/:name", ScopeSecrets, a.setSecret)
	a.handle(http.MethodDelete, "/api/v1/secrets/:name", ScopeSecrets, a.deleteSecret)

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
	// Every answer gets a deadline: a client that does not read cannot
	// hold a handler, its connection and its answer for ever. /fn moves
	// it to when the function returned; the event stream clears it.
	_ = http.NewResponseController(w).SetWriteDeadline(a.now().Add(a.deps.WriteTimeout))
	// Blob uploads stream to the database, bound by BlobMaxSize instead.
	if !isBlobUpload(r) {
		if r.ContentLength > a.maxBody {
			WriteError(w, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
				"request body of %d bytes is larger than the limit of %s", r.ContentLength, ByteSize(a.maxBody)))
			return
		}
		if r.ContentLength != 0 {
			r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
		}
	}
	if role := RoleOf(r.URL.Path); !a.deps.Roles.has(role) {
		WriteError(w, wrongRole(role, a.deps.Roles))
		return
	}
	// Cookies do not care about ports: the dashboard's session cookie
	// reaches this listener too, and must never reach a function.
	stripSessionCookie(r)
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
