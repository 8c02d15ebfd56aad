package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/outbound"
	"github.com/picloud/picloud/supervisor"
)

// Defaults of Config, applied by Run to zero fields.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultDataDir         = "./.picloud"
	DefaultMaxBodyBytes    = 6 << 20
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultMaxResponse     = 16 << 20
	DefaultWriteTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultQueueTimeout    = 5 * time.Second
	// DefaultSpareWorkers is the --spare-workers of `picloud serve` (a zero
	// Config.SpareWorkers means none).
	DefaultSpareWorkers = 1
	// MaxSpareWorkers bounds Config.SpareWorkers.
	MaxSpareWorkers = supervisor.MaxSpareWorkers
)

// Config is what `picloud serve` passes to Run. Zero fields take the
// defaults above; only DatabaseURL is required.
type Config struct {
	// Version is the build's version, exported as picloud_build_info.
	Version string
	// Listen is the HTTP address (--listen, PICLOUD_LISTEN).
	Listen string
	// Listener, if set, is served instead of listening on Listen (tests,
	// socket activation). Run closes it.
	Listener net.Listener
	// UIListen is the dashboard's own address (--ui-listen,
	// PICLOUD_UI_LISTEN); empty serves no dashboard. It must differ from
	// Listen: the dashboard's origin is never the functions' origin.
	UIListen string
	// UIListener, if set, is served for the dashboard instead of
	// listening on UIListen (tests). Run closes it.
	UIListener net.Listener
	// DatabaseURL is the PostgreSQL URL (--database-url, DATABASE_URL).
	DatabaseURL string
	// DataDir holds admin.token and secret.key (--data-dir,
	// PICLOUD_DATA_DIR); created with mode 0700.
	DataDir string
	// MaxBodyBytes bounds request bodies on every route (413 beyond);
	// default 6 MiB.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds request headers (431 beyond); default 64 KiB.
	MaxHeaderBytes int
	// MaxResponseBytes bounds a function's answer body (502 beyond);
	// default 16 MiB.
	MaxResponseBytes int64
	// WriteTimeout bounds the time to send one answer (a function's from
	// when it returned); a client reading slower is cut off. Default 30s.
	WriteTimeout time.Duration
	// RequireLimits makes a worker start fail when its cgroup limits
	// cannot be applied, instead of running it unlimited with a warning.
	RequireLimits bool
	// MaxWorkersTotal caps worker processes on this node (0: the
	// supervisor's default).
	MaxWorkersTotal int
	// WorkerPath is the worker binary; empty lets the supervisor choose
	// (picloud-worker next to the running executable when present, else
	// the executable itself re-executed as `picloud worker`).
	WorkerPath string
	// WorkerUser is who workers run as (supervisor.Config.WorkerUser);
	// empty means picloud-worker when that user exists.
	WorkerUser string
	// RequireSandbox refuses workers lacking any sandbox layer
	// (supervisor.Config.RequireSandbox).
	RequireSandbox bool
	// SpareWorkers is how many generic spare workers a data node keeps
	// started for cold starts (supervisor.Config.SpareWorkers); 0: none.
	// `picloud serve` defaults it to DefaultSpareWorkers.
	SpareWorkers int
	// QueueTimeout is how long a call waits for a busy pool before 503.
	QueueTimeout time.Duration
	// ShutdownTimeout bounds the drain on ctx cancellation: in-flight
	// requests get this long to finish before connections are closed.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the node keeps serving after SIGTERM with
	// /readyz failing, before it stops accepting requests: a load
	// balancer's health check (Caddy's health_interval) must see it
	// first, so no request is sent to a closed listener. 0 (the default)
	// stops at once, as a single node behind no balancer may.
	DrainDelay time.Duration
	// Logger receives the server's logs; default hclog to stderr.
	Logger hclog.Logger
	// RecordPolicy decides which runs keep a full invocation record
	// (--record-calls, --record-sample); every run is counted in the
	// per-minute aggregates. The zero value records every run; picloud
	// serve defaults to sampled at 1 %.
	RecordPolicy invoke.RecordPolicy

	// Roles are the node's roles (--roles, PICLOUD_ROLES); the zero value
	// is all of them, today's single-node product.
	Roles api.Roles
	// Advertise is the address other nodes and operators reach this node
	// at (--advertise); default the listen address.
	Advertise string
	// NodeID names the node in the registry; default the host name and a
	// random suffix, new on every start.
	NodeID string
	// Heartbeat is the registry's heartbeat interval (default 2s); Lease
	// how long a silent node counts as alive (default 10s), after which
	// its running jobs are re-queued. Lease must be at least twice
	// Heartbeat.
	Heartbeat time.Duration
	Lease     time.Duration

	// Outbound configures functions' outbound HTTP (http.request): the
	// node's allow and deny lists and the caps (picloud serve
	// --outbound-*). Its Observer is set by Run (metrics).
	Outbound outbound.Config
	// Blobs are the blob limits and the orphan sweeper's timing.
	Blobs BlobOptions

	// Events tunes the events service (retries, job workers, retention);
	// zero fields keep its defaults.
	Events events.Options
	// OnReady, if set, is called once the listener is up and serving
	// (sd_notify READY=1).
	OnReady func()
	// OnStopping, if set, is called when the drain begins
	// (sd_notify STOPPING=1).
	OnStopping func()

	// TrustedProxies may set X-Forwarded-For (the client address of
	// per-IP rate limits) and X-Forwarded-Proto (the dashboard); nil means
	// loopback only.
	TrustedProxies []netip.Prefix
}

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() (Config, error) {
	if c.DatabaseURL == "" {
		return c, fmt.Errorf("no database URL: set --database-url or DATABASE_URL")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.UIListen != "" && c.UIListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		return c, fmt.Errorf("--ui-listen %s is the same address as --listen: the dashboard needs its own origin", c.UIListen)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponse
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	c.Blobs = c.Blobs.withDefaults()
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Lease < 2*c.Heartbeat {
		return c, fmt.Errorf("lease %s is shorter than two heartbeats (%s): a live node would be reaped", c.Lease, c.Heartbeat)
	}
	if c.NodeID == "" {
		c.NodeID = newNodeID()
	}
	if !c.Roles.Control && !c.Roles.Data {
		c.Roles = api.AllRoles
	}
	if (c.UIListen != "" || c.UIListener != nil) && !c.Roles.Control {
		return c, fmt.Errorf("--ui-listen needs the control role: the dashboard is the control plane's (--roles %s)", c.Roles)
	}
	if c.Logger == nil {
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: "picloud", Output: os.Stderr, Level: hclog.Info})
	}
	return c, nil
}
