package api

import (
	"time"
)

// This file holds the JSON bodies of every route: what the CLI sends and
// decodes. Field names are the wire contract; change them only with the CLI.

// Scopes a token can carry. admin implies every other scope.
const (
	ScopeAdmin   = "admin"   // everything, including tokens
	ScopeDeploy  = "deploy"  // create, update, delete and roll back functions
	ScopeInvoke  = "invoke"  // POST .../invoke and private /fn/NAME
	ScopeRead    = "read"    // every GET route of the control plane
	ScopePublish = "publish" // publish events (reserved for the events API)
	// ScopeSecrets sets and deletes secrets, and grants a function a
	// secret its current version does not already hold (deploy --secrets,
	// or a rollback to a version with more grants).
	ScopeSecrets = "secrets"
	// ScopeBlobs uploads and deletes blobs (reading them needs read).
	ScopeBlobs = "blobs"
)

// AllScopes lists the scopes a token may be created with.
var AllScopes = []string{ScopeAdmin, ScopeDeploy, ScopeInvoke, ScopeRead, ScopePublish, ScopeSecrets, ScopeBlobs}

// Headers set or read by the API.
const (
	// HeaderInvocationID is set on every /fn and .../invoke response.
	HeaderInvocationID = "X-PiCloud-Invocation-Id"
	// HeaderStart on a .../invoke response says whether the call was its
	// worker's first ("cold") or reused a warm one ("warm").
	HeaderStart = "X-PiCloud-Start"
	// HeaderAsync on a /fn request (value "1") asks for an asynchronous
	// invocation (202 + invocation id), when the events service is wired.
	HeaderAsync = "X-PiCloud-Async"
)

// FunctionRequest is the body of POST /api/v1/functions (create) and
// PUT /api/v1/functions/:name (deploy a new version).
//
// Every field but Source is optional. On create an omitted field takes its
// default (supervisor.DefaultLimits, public, max_attempts 5). On update an
// omitted field keeps the value of the current version, so a redeploy
// without flags keeps the limits chosen earlier.
type FunctionRequest struct {
	// Name is required on create; on update it may be omitted or must
	// equal the name in the path. ^[a-z][a-z0-9-]{0,62}$.
	Name string `json:"name,omitempty"`
	// Source is the Lua script; it must define handle(req). A JSON string
	// holds only UTF-8 text: a script with other bytes (Latin-1 in a string
	// literal) is sent as SourceBase64 instead. Exactly one of the two.
	Source string `json:"source,omitempty"`
	// SourceBase64 is the script's exact bytes, base64 (standard, padded):
	// what picloud deploy sends, so the stored script and its sha256 are
	// the file's own.
	SourceBase64 []byte `json:"source_base64,omitempty"`
	// Memory is a size: a string like "64MiB", "1GiB", "512M", or a JSON
	// number of bytes. Range 16MiB..2GiB.
	Memory *ByteSize `json:"memory,omitempty"`
	// CPU is the quota in cores, 0.05..number of cores.
	CPU *float64 `json:"cpu,omitempty"`
	// Timeout per call: a Go duration string like "10s", "500ms".
	// Range 100ms..15m.
	Timeout *Duration `json:"timeout,omitempty"`
	// Concurrency is the number of concurrent calls per worker.
	Concurrency *int `json:"concurrency,omitempty"`
	// MinWarm workers are kept running even when idle.
	MinWarm *int `json:"min_warm,omitempty"`
	// MaxWorkers bounds the function's pool.
	MaxWorkers *int `json:"max_workers,omitempty"`
	// IdleTimeout: an idle worker is stopped after this ("60s").
	IdleTimeout *Duration `json:"idle_timeout,omitempty"`
	// Private functions need a token with the invoke scope on /fn/NAME.
	Private *bool `json:"private,omitempty"`
	// AllowAsync lets anyone queue asynchronous calls of a public function
	// (X-PiCloud-Async: 1 on /fn/NAME); off by default, when only a token
	// with the invoke scope may. On update, omitted keeps the current value.
	AllowAsync *bool `json:"allow_async,omitempty"`
	// MaxAttempts is the number of delivery attempts for event triggers
	// before a dead letter (events API), 1..100, default 5.
	MaxAttempts *int `json:"max_attempts,omitempty"`
	// Secrets are the names of the secrets this version may read with
	// secrets.get (at most MaxSecretGrants); [] grants none. Omitted on
	// create grants none; omitted on update keeps the current version's
	// grants (a version from before grants, which reads every secret,
	// passes on none: list them). Granting a name the current version
	// does not hold needs the secrets scope.
	Secrets *[]string `json:"secrets,omitempty"`
	// Blobs are the buckets besides its own (named after the function)
	// this version may use with the Lua blobs module: "bucket:r" or
	// "bucket:rw" (at most MaxBlobGrants). Omitted on update keeps the
	// current version's; [] grants none.
	Blobs *[]string `json:"blobs,omitempty"`
	// AllowNet are the outbound destinations beyond public addresses this
	// version's http.request may reach: "host", "host:port", a CIDR
	// block or "*.suffix" (at most outbound.MaxPatterns); [] grants none.
	// Omitted on create grants none; omitted on update keeps the current
	// version's.
	AllowNet *[]string `json:"allow_net,omitempty"`

	// The HTTP front and config of the version (see FrontRequest).
	FrontRequest
}

// FrontRequest are the deploy fields of a function's HTTP front and config.
// On create an omitted field means none; on update it keeps the current
// version's value. Bad values answer 400 bad_request with Field set.
type FrontRequest struct {
	// CORSOrigins may call /fn/NAME from a browser: scheme://host[:port]
	// each (at most 32), or ["*"] for any origin; [] allows none.
	// PiCloud answers their preflight OPTIONS itself.
	CORSOrigins *[]string `json:"cors_origins,omitempty"`
	// Rate limits calls of /fn/NAME on each node: "20/s", "100/m", "5/h";
	// "" or "off" removes the limit. A call over it gets 429 and
	// Retry-After before a worker is touched.
	Rate *string `json:"rate,omitempty"`
	// Burst is the calls allowed at once above the rate, 1..1000000;
	// default the rate's count (20 for 20/s) when Rate is given.
	Burst *int `json:"burst,omitempty"`
	// RatePerIP gives each client address its own bucket.
	RatePerIP *bool `json:"rate_per_ip,omitempty"`
	// Env is the version's non-secret config, env.KEY in Lua: keys like
	// Lua identifiers (1 to 64 characters), at most 100 variables and
	// 16 KiB of keys and values; {} clears it.
	Env *map[string]string `json:"env,omitempty"`
}

// FrontView is a version's HTTP front and config as the API shows them.
type FrontView struct {
	CORSOrigins []string          `json:"cors_origins"`
	Rate        string            `json:"rate,omitempty"` // "20/s"; omitted: no limit
	Burst       int               `json:"burst,omitempty"`
	RatePerIP   bool              `json:"rate_per_ip,omitempty"`
	Env         map[string]string `json:"env"`
}

// MaxBlobGrants bounds FunctionRequest.Blobs.
const MaxBlobGrants = 64

// MaxSecretGrants bounds FunctionRequest.Secrets.
const MaxSecretGrants = 64

// Limits are a function version's resource limits as the API shows them.
type Limits struct {
	Memory      ByteSize `json:"memory"`       // "64MiB"
	CPU         float64  `json:"cpu"`          // cores
	Timeout     Duration `json:"timeout"`      // "10s"
	Concurrency int      `json:"concurrency"`  // calls per worker
	MinWarm     int      `json:"min_warm"`     // workers kept warm
	MaxWorkers  int      `json:"max_workers"`  // pool size
	IdleTimeout Duration `json:"idle_timeout"` // "1m0s"
}

// Function is a deployed function with its current version
// (GET /api/v1/functions/:name, and the answer of create, update and
// rollback).
type Function struct {
	Name        string `json:"name"`
	Version     int    `json:"version"` // the current version
	SHA256      string `json:"sha256"`  // hex sha256 of the current source
	Private     bool   `json:"private"`
	AllowAsync  bool   `json:"allow_async"`
	MaxAttempts int    `json:"max_attempts"`
	Limits      Limits `json:"limits"`
	// Secrets the current version may read with secrets.get, sorted.
	Secrets []string `json:"secrets"`
	// AllSecrets: the current version was deployed before per-function
	// grants and may read every secret (Secrets is empty).
	AllSecrets bool `json:"all_secrets,omitempty"`
	// AllowNet are the current version's outbound grants (--allow-net).
	AllowNet []string `json:"allow_net"`
	// Blobs are the current version's bucket grants ("bucket:r",
	// "bucket:rw"), sorted; its own bucket is not listed.
	Blobs     []string  `json:"blobs"`
	URL       string    `json:"url"` // path of the endpoint: "/fn/NAME"
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"` // when the current version became current
	// Source of the current version; only in GET .../:name?source=1 and
	// in the answers of create and update it is omitted. It is the stored
	// bytes as a JSON string (bytes that are not UTF-8 become U+FFFD);
	// SourceBase64, given with it, is the exact bytes.
	Source       string `json:"source,omitempty"`
	SourceBase64 []byte `json:"source_base64,omitempty"`

	// The current version's HTTP front and config.
	FrontView
}

// FunctionList is the body of GET /api/v1/functions.
type FunctionList struct {
	Functions []Function `json:"functions"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

// Version is one immutable version of a function.
type Version struct {
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	Limits  Limits `json:"limits"`
	// Secrets the version may read; AllSecrets as in Function.
	Secrets    []string `json:"secrets"`
	AllSecrets bool     `json:"all_secrets,omitempty"`
	// AllowNet are the version's outbound grants.
	AllowNet []string `json:"allow_net"`
	// Blobs are the version's bucket grants, as in Function.
	Blobs []string `json:"blobs"`
	// Private is the function's access setting; it belongs to the
	// function, not the version, so every version shows the same value.
	Private   bool      `json:"private"`
	Current   bool      `json:"current"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"` // token name
	// Source of this version, only in GET .../versions/:version: as text
	// when it is valid UTF-8, else in SourceBase64.
	Source       string `json:"source,omitempty"`
	SourceBase64 []byte `json:"source_base64,omitempty"`

	// The version's HTTP front and config.
	FrontView
}

// VersionList is the body of GET /api/v1/functions/:name/versions, newest
// first.
type VersionList struct {
	Versions []Version `json:"versions"`
}

// RollbackRequest is the optional body of POST
// /api/v1/functions/:name/rollback. Version 0 or an empty body means the
// version before the current one.
type RollbackRequest struct {
	Version int `json:"version,omitempty"`
}

// Secret is a secret as listed: its name and dates, never its value.
type Secret struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// SecretList is the body of GET /api/v1/secrets.
type SecretList struct {
	Secrets []Secret `json:"secrets"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

// SecretRequest is the body of PUT /api/v1/secrets/:name (201 when created,
// 200 when replaced).
type SecretRequest struct {
	Value string `json:"value"`
}

// Invocation statuses (the invocations table's).
const (
	StatusSucceeded = "succeeded" // the handler returned (any HTTP status it chose)
	StatusFailed    = "failed"    // script error, timeout, crash or memory limit (see error)
	StatusQueued    = "queued"    // async, not started yet (events API)
	StatusRunning   = "running"   // async, in progress (events API)
)

// LogEntry is one line the handler logged (log.info etc.).
type LogEntry struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// Invocation is one run of a function (GET /api/v1/invocations/:id).
type Invocation struct {
	ID         string    `json:"id"`
	Function   string    `json:"function"`
	Version    int       `json:"version"`
	Trigger    string    `json:"trigger"` // http, cron, event, dead_letter
	Status     string    `json:"status"`  // StatusSucceeded, StatusFailed, ...
	Method     string    `json:"method,omitempty"`
	Path       string    `json:"path,omitempty"`
	HTTPStatus int       `json:"http_status,omitempty"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	// Logs only on the single-invocation route; LogsDropped counts lines
	// over the per-call bound.
	Logs        []LogEntry `json:"logs,omitempty"`
	LogsDropped int        `json:"logs_dropped,omitempty"`
	// Result is what the handler answered, on the single-invocation
	// route only and when the store kept it (asynchronous calls and
	// deliveries; the answer of a synchronous call went to its caller).
	Result *InvocationResult `json:"result,omitempty"`
}

// InvocationResult is the stored answer of an invocation.
type InvocationResult struct {
	// Status is the HTTP status the handler answered.
	Status int `json:"status"`
	// Body is the response body when it is UTF-8 text; BodyBase64 holds
	// it (standard base64) otherwise.
	Body       string `json:"body"`
	BodyBase64 string `json:"body_base64,omitempty"`
	// Truncated: the body was longer than the store keeps (64 KiB) and
	// was cut there.
	Truncated bool `json:"truncated,omitempty"`
}

// InvocationList is the body of GET /api/v1/invocations, newest first.
// Query parameters: function, status, limit (default 50, max 500), cursor
// (NextCursor of the previous page). NextCursor is empty on the last page.
type InvocationList struct {
	Invocations []Invocation `json:"invocations"`
	NextCursor  string       `json:"next_cursor,omitempty"`
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name   string   `json:"name"`   // ^[a-z][a-z0-9-]{0,62}$, unique
	Scopes []string `json:"scopes"` // at least one of AllScopes
}

// Token is a token as listed; the secret is never shown again.
type Token struct {
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// TokenCreated is the answer of POST /api/v1/tokens (201): the only time
// the secret ("pc_" + 52 base32 characters) is shown.
type TokenCreated struct {
	Token
	Secret string `json:"secret"`
}

// TokenList is the body of GET /api/v1/tokens (revoked tokens are not
// listed).
type TokenList struct {
	Tokens []Token `json:"tokens"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

// WorkerStatus is one worker process of the supervisor.
type WorkerStatus struct {
	// Node is the id of the node running the worker (GET /api/v1/nodes).
	Node           string    `json:"node,omitempty"`
	PID            int       `json:"pid"`
	Function       string    `json:"function"`
	Version        int       `json:"version"`
	State          string    `json:"state"` // starting, idle, busy, stopping
	CallsServed    uint64    `json:"calls_served"`
	InFlight       int       `json:"inflight"`
	StartedAt      time.Time `json:"started_at"`
	LastUsed       time.Time `json:"last_used"`
	RSSBytes       int64     `json:"rss_bytes"`
	CPUSeconds     float64   `json:"cpu_seconds"`
	LimitsEnforced bool      `json:"limits_enforced"`
	// Sandbox is what the worker's process sandbox applied, read back at
	// its start (absent while starting).
	Sandbox *WorkerSandbox `json:"sandbox,omitempty"`
}

// WorkerSandbox is one worker's process sandbox, layer by layer.
type WorkerSandbox struct {
	UID          int      `json:"uid"`
	GID          int      `json:"gid"`
	Capabilities string   `json:"capabilities"` // "none" or the sets left
	NoNewPrivs   bool     `json:"no_new_privs"`
	Seccomp      string   `json:"seccomp"`  // filter, strict, off
	Landlock     string   `json:"landlock"` // "enforced (abi N)" or why not
	FDs          []string `json:"fds"`
	Complete     bool     `json:"complete"`
	Missing      []string `json:"missing"` // one line per missing layer
}

// WorkersStatus is the body of GET /api/v1/workers: the workers of every
// live node of the cluster (each row names its node); the limits fields
// are those of the node that answered.
type WorkersStatus struct {
	LimitsEnforced  bool   `json:"limits_enforced"`
	LimitsMode      string `json:"limits_mode"` // cgroup2, cgroup1, or "none: <reason>"
	MaxWorkersTotal int    `json:"max_workers_total"`
	// WorkerUser is who workers run as, or "none: <why they run as
	// serve's uid>"; SandboxRequired mirrors --require-sandbox.
	WorkerUser      string         `json:"worker_user"`
	SandboxRequired bool           `json:"sandbox_required"`
	Workers         []WorkerStatus `json:"workers"`
	// SpareWorkers is --spare-workers of the node that answered and Spares
	// its ready spare workers (started, sandboxed, no function loaded).
	SpareWorkers int           `json:"spare_workers"`
	Spares       []SpareStatus `json:"spares"`
}

// SpareStatus is one spare worker of the node that answered.
type SpareStatus struct {
	PID        int       `json:"pid"`
	StartedAt  time.Time `json:"started_at"`
	RSSBytes   int64     `json:"rss_bytes"`
	CPUSeconds float64   `json:"cpu_seconds"`
}

// NodeView is one node of the cluster in GET /api/v1/nodes.
type NodeView struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Roles   []string `json:"roles"`
	Version string   `json:"version"`
	// StartedAt and HeartbeatAt are the node's start and its last
	// heartbeat (database clock).
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// LeaseSeconds: a node silent for longer is dead and its jobs are
	// re-queued; Alive says it is within its lease.
	LeaseSeconds float64 `json:"lease_seconds"`
	Alive        bool    `json:"alive"`
	// Self marks the node that answered.
	Self     bool    `json:"self,omitempty"`
	Workers  int     `json:"workers"`
	InFlight int     `json:"inflight"`
	Load     float64 `json:"load"`
}

// NodeList is the body of GET /api/v1/nodes.
type NodeList struct {
	Nodes []NodeView `json:"nodes"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	Error  string `json:"error,omitempty"`
}

// Error codes in ErrorBody.Code.
const (
	CodeBadRequest       = "bad_request"        // 400: malformed input other than JSON
	CodeBadJSON          = "bad_json"           // 400: body is not valid JSON (message says where)
	CodeUnknownField     = "unknown_field"      // 400: body has a field the route does not take
	CodeInvalidName      = "invalid_name"       // 400: name does not match ^[a-z][a-z0-9-]{0,62}$ or is not UTF-8
	CodeUnauthorized     = "unauthorized"       // 401: no token or a bad one
	CodeForbidden        = "forbidden"          // 403: the token lacks the scope (message names it)
	CodeNotFound         = "not_found"          // 404: unknown function, version, token, invocation or route
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeConflict         = "conflict"           // 409: name taken
	CodeBodyTooLarge     = "body_too_large"     // 413
	CodeBatchTooLarge    = "batch_too_large"    // 413: a publish batch of more events than the bound (message names it)
	CodeSyntaxError      = "syntax_error"       // 422: Lua syntax error, with line and column
	CodeInvalidLimit     = "invalid_limit"      // 422: a limit out of range or unparseable (field set)
	CodeInvalidValue     = "invalid_value"      // 422: another field with a bad value (scopes, version...)
	CodeScriptError      = "script_error"       // 500: the Lua handler raised an error
	CodeMemoryLimit      = "memory_limit"       // 502: the worker hit its memory limit
	CodeWorkerCrashed    = "worker_crashed"     // 502: the worker died or could not start
	CodeInvalidResponse  = "invalid_response"   // 502: the function answered a status it may not send
	CodeOverloaded       = "overloaded"         // 503 + Retry-After
	CodeTooManyStreams   = "too_many_streams"   // 429 + Retry-After: the token holds its cap of event streams
	CodeAsyncNotAllowed  = "async_not_allowed"  // 403: async call of a public function without opt-in or token
	CodeQueueFull        = "queue_full"         // 429 + Retry-After: the function's async queue is at its bound
	CodeUnavailable      = "unavailable"        // 503: not ready / shutting down
	CodeRateLimited      = "rate_limited"       // 429 + Retry-After: over the function's --rate (before any worker)
	CodeOriginNotAllowed = "origin_not_allowed" // 403: a CORS preflight from an origin not in --cors-origin
	CodeTimeout          = "timeout"            // 504: the call ran past its timeout
	CodeInternal         = "internal"           // 500: a bug or a database failure
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Field names the offending field for invalid_limit, invalid_value and
	// unknown_field.
	Field string `json:"field,omitempty"`
	// Line and Column locate a Lua syntax error, or a JSON error in the body.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// InvocationID is set on errors of /fn and .../invoke.
	InvocationID string `json:"invocation_id,omitempty"`
}
