package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/sdnotify"
	"github.com/picloud/picloud/server"
	"github.com/picloud/picloud/store"
)

func serveCommand() *command {
	return &command{
		Name:    "serve",
		Args:    "[flags]",
		Summary: "run the PiCloud server",
		Description: `Runs the server: applies pending database migrations, creates the admin
token on first start (written to <data-dir>/admin.token, mode 0600), and
serves the functions at /fn/NAME and the API at /api/v1 until SIGINT or
SIGTERM, then drains in-flight requests. With --ui-listen it also serves the
dashboard on that address, its own origin (functions never answer there).
Every flag has an environment
equivalent, named in its description; a flag wins over its variable.

The database URL may hold a password: give it in the environment
(DATABASE_URL) or in a file (--database-url-file FILE or
PICLOUD_DATABASE_URL_FILE), not as --database-url, which every user of the
machine can read in ps.

Several nodes may share one database (a cluster): --roles control serves
the API and fires cron, --roles data serves /fn and works deliveries and
async invocations; each node heartbeats into the registry (picloud nodes),
and the jobs of a node silent for --lease are re-queued on the others.

Record policy: every run is counted per function and minute (calls, errors,
durations: the dashboard's figures). A full invocation record (what picloud
logs shows) is always kept for failures, runs that logged, and async, event,
cron and dead-letter runs; of the successful HTTP calls that logged nothing,
--record-calls sampled (the default) keeps --record-sample of them (1 %),
failures keeps none, all keeps every one.`,
		Example: `DATABASE_URL=postgres://picloud@127.0.0.1:54329/picloud picloud serve
picloud serve --database-url-file /etc/picloud/database.url
picloud serve --listen 0.0.0.0:8080 --data-dir /var/lib/picloud --require-limits
picloud serve --ui-listen 127.0.0.1:8081                   # and the dashboard on its own origin
picloud serve --record-calls all                           # keep a record of every call, not 1 % of the silent successes
PICLOUD_ROLES=data picloud serve --listen 10.0.0.11:8080   # a data node of a cluster`,
		Run: runServe,
	}
}

// envFlags defines flags whose defaults come from environment variables
// and remembers the first bad value of one.
type envFlags struct {
	a   *app
	fs  *flag.FlagSet
	err error
}

func (e *envFlags) note(name, v string, err error) {
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s=%q: %w", name, v, err)
	}
}

func (e *envFlags) String(p *string, name, env, def, usage string) {
	e.fs.StringVar(p, name, e.a.envOr(env, def), usage+" (env "+env+")")
}

func (e *envFlags) Bool(p *bool, name, env, usage string) {
	v := e.a.env.Getenv(env)
	b := false
	if v != "" {
		var err error
		b, err = strconv.ParseBool(v)
		e.note(env, v, err)
	}
	e.fs.BoolVar(p, name, b, usage+" (env "+env+")")
}

func (e *envFlags) Int(p *int, name, env string, def int, usage string) {
	*p = def
	if v := e.a.env.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		e.note(env, v, err)
		*p = n
	}
	e.fs.IntVar(p, name, *p, usage+" (env "+env+")")
}

func (e *envFlags) Size(p *int64, name, env string, def int64, usage string) {
	*p = def
	if v := e.a.env.Getenv(env); v != "" {
		n, err := ParseSize(v)
		e.note(env, v, err)
		*p = n
	}
	e.fs.Var(sizeValue{p}, name, usage+" (env "+env+")")
}

func (e *envFlags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	if v := e.a.env.Getenv(env); v != "" {
		d, err := ParseDuration(v)
		e.note(env, v, err)
		*p = d
	}
	e.fs.Var(durationValue{p}, name, usage+" (env "+env+")")
}

func runServe(ctx context.Context, a *app, c *command, args []string) error {
	fs := newFlags(c)
	ef := &envFlags{a: a, fs: fs}
	cfg := server.Config{Version: Version}
	var logLevel string
	var maxHeader int64
	ef.String(&cfg.Listen, "listen", envListen, server.DefaultListen, "listen for HTTP on `ADDRESS`")
	ef.String(&cfg.UIListen, "ui-listen", "PICLOUD_UI_LISTEN", "", "serve the dashboard on its own `ADDRESS` (e.g. 127.0.0.1:8081; empty: no dashboard)")
	dbURL := defineDatabaseURL(ef)
	ef.String(&cfg.DataDir, "data-dir", envDataDir, server.DefaultDataDir, "`DIR` holding admin.token and secret.key")
	ef.Bool(&cfg.RequireLimits, "require-limits", envRequireLimits, "refuse to start workers whose cgroup limits cannot be applied")
	ef.Size(&cfg.MaxBodyBytes, "max-body", "PICLOUD_MAX_BODY", server.DefaultMaxBodyBytes, "largest request body")
	ef.Size(&maxHeader, "max-header", "PICLOUD_MAX_HEADER", server.DefaultMaxHeaderBytes, "largest block of request headers")
	ef.Size(&cfg.MaxResponseBytes, "max-response", "PICLOUD_MAX_RESPONSE", server.DefaultMaxResponse, "largest answer body a function may send (502 beyond)")
	ef.Duration(&cfg.WriteTimeout, "write-timeout", "PICLOUD_WRITE_TIMEOUT", server.DefaultWriteTimeout, "how long one answer may take to send; slower clients are cut off")
	ef.Int(&cfg.MaxWorkersTotal, "max-workers-total", "PICLOUD_MAX_WORKERS_TOTAL", 0, "run at most `N` worker processes on this node (0: the supervisor's default)")
	ef.Int(&cfg.SpareWorkers, "spare-workers", "PICLOUD_SPARE_WORKERS", server.DefaultSpareWorkers, fmt.Sprintf("keep `N` generic spare workers started (sandboxed, no function loaded) so a cold start needs no exec; 0 to %d, 0: none", server.MaxSpareWorkers))
	ef.String(&cfg.WorkerPath, "worker-path", "PICLOUD_WORKER_PATH", "", "run workers from `BINARY` (default: picloud-worker next to picloud, else picloud itself)")
	ef.String(&cfg.WorkerUser, "worker-user", "PICLOUD_WORKER_USER", "", "run workers as `USER` (NAME[:GROUP] or UID[:GID]; default: picloud-worker if it exists); needs root or CAP_SETUID and CAP_SETGID")
	ef.Bool(&cfg.RequireSandbox, "require-sandbox", "PICLOUD_REQUIRE_SANDBOX", "refuse workers lacking any sandbox layer (own uid, no capabilities, no_new_privs, seccomp, Landlock, closed descriptors)")
	ef.Duration(&cfg.QueueTimeout, "queue-timeout", "PICLOUD_QUEUE_TIMEOUT", server.DefaultQueueTimeout, "how long a call waits for a busy function before a 503")
	ef.Duration(&cfg.ShutdownTimeout, "shutdown-timeout", "PICLOUD_SHUTDOWN_TIMEOUT", server.DefaultShutdownTimeout, "how long in-flight requests may take to finish on shutdown")
	ef.Duration(&cfg.DrainDelay, "drain-delay", "PICLOUD_DRAIN_DELAY", 0, "on SIGTERM, keep serving this long with /readyz failing before closing the listener (behind Caddy: more than its health_interval)")
	ef.String(&logLevel, "log-level", "PICLOUD_LOG_LEVEL", "info", "log at `LEVEL`: trace, debug, info, warn or error")
	eventOpts := eventsServeFlags(ef)     // events.go
	outboundServeFlags(ef, &cfg.Outbound) // serve_outbound.go
	blobServeFlags(ef, &cfg.Blobs)        // blob_serve.go
	record := defineRecordFlags(ef)       // serve_record.go
	var roles string
	ef.String(&roles, "roles", "PICLOUD_ROLES", "all", "serve `ROLES`: all, control (the API, cron), data (/fn, invoke, deliveries, workers) or a comma list")
	ef.String(&cfg.Advertise, "advertise", "PICLOUD_ADVERTISE", "", "`ADDRESS` other nodes and operators reach this node at, shown in the node registry (default: the listen address)")
	ef.Duration(&cfg.Heartbeat, "heartbeat", "PICLOUD_HEARTBEAT", server.DefaultHeartbeat, "how often the node writes its heartbeat to the registry")
	ef.Duration(&cfg.Lease, "lease", "PICLOUD_LEASE", server.DefaultLease, "a node silent this long is dead: its running jobs are re-queued (at least 2 heartbeats)")
	var trusted string
	ef.String(&trusted, "trusted-proxies", "PICLOUD_TRUSTED_PROXIES", defaultTrustedProxies, "trust X-Forwarded-For and X-Forwarded-Proto from these `PREFIXES` (comma list of CIDRs or addresses; none: trust no proxy): the client address of --rate-per-ip, the dashboard's HTTPS")
	if _, err := a.parse(c, fs, args); err != nil {
		return err
	}
	if ef.err != nil {
		return usagef(c, "%v", ef.err)
	}
	var err error
	if cfg.TrustedProxies, err = parseTrustedProxies(trusted); err != nil {
		return usagef(c, "%v", err)
	}
	if cfg.Roles, err = api.ParseRoles(roles); err != nil {
		return usagef(c, "--roles: %v", err)
	}
	if cfg.RecordPolicy, err = record.policy(); err != nil {
		return usagef(c, "%v", err)
	}
	if cfg.Lease < 2*cfg.Heartbeat {
		return usagef(c, "--lease %s must be at least twice --heartbeat %s", cfg.Lease, cfg.Heartbeat)
	}
	if cfg.DatabaseURL, err = dbURL.resolve(); err != nil {
		return usagef(c, "%v", err)
	}
	if cfg.DatabaseURL == "" {
		return usagef(c, "no database: set DATABASE_URL, or --database-url-file (scripts/pg.sh start prints a local one)")
	}
	if maxHeader > int64(^uint(0)>>1) {
		return usagef(c, "--max-header is too large")
	}
	cfg.MaxHeaderBytes = int(maxHeader)
	level := hclog.LevelFromString(logLevel)
	if level == hclog.NoLevel {
		return usagef(c, "unknown log level %q: use trace, debug, info, warn or error", logLevel)
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "picloud", Output: a.env.Stderr, Level: level})
	cfg.Events = *eventOpts
	notifySocket := a.env.Getenv("NOTIFY_SOCKET")
	cfg.OnReady = func() { _ = sdnotify.NotifySocket(notifySocket, sdnotify.StateReady) }
	cfg.OnStopping = func() { _ = sdnotify.NotifySocket(notifySocket, sdnotify.StateStopping) }
	go sdnotify.Watchdog(ctx) // returns at once unless systemd set WatchdogSec
	if err := server.Run(ctx, cfg); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func migrateCommand() *command {
	return &command{
		Name:    "migrate",
		Args:    "[--database-url-file FILE] [--status]",
		Summary: "apply the database migrations",
		Description: `Applies every pending migration to the database (picloud serve does this
too at start). Safe to run on an up-to-date database and from several
machines at once: migrations run under an advisory lock. The database URL
comes from DATABASE_URL, --database-url-file FILE (or
PICLOUD_DATABASE_URL_FILE), or --database-url (visible in ps: avoid it for
a URL with a password).`,
		Example: "DATABASE_URL=postgres://picloud@127.0.0.1:54329/picloud picloud migrate\npicloud migrate --status",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			ef := &envFlags{a: a, fs: fs}
			dbFlags := defineDatabaseURL(ef)
			statusOnly := fs.Bool("status", false, "only print the schema version, change nothing")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			dbURL, err := dbFlags.resolve()
			if err != nil {
				return usagef(c, "%v", err)
			}
			if dbURL == "" {
				return usagef(c, "no database: set DATABASE_URL, or --database-url-file")
			}
			logger := hclog.New(&hclog.LoggerOptions{Name: "picloud", Output: a.env.Stderr, Level: hclog.Info})
			before, after, latest, err := store.MigrateURL(ctx, dbURL, logger, *statusOnly)
			if err != nil {
				return err
			}
			if before == latest {
				fmt.Fprintf(a.env.Stdout, "schema at version %d (up to date)\n", before)
				return nil
			}
			if *statusOnly {
				fmt.Fprintf(a.env.Stdout, "schema at version %d of %d: run 'picloud migrate' to apply the rest\n", before, latest)
				return nil
			}
			fmt.Fprintf(a.env.Stdout, "schema migrated from version %d to %d\n", before, after)
			return nil
		},
	}
}

func versionCommand() *command {
	return &command{
		Name:        "version",
		Args:        "[--json]",
		Summary:     "print the version of picloud",
		Description: "Prints the version of this build (set by `make build`) and the Go version it was built with.",
		Example:     "picloud version",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the version as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			if *asJSON {
				return printJSON(a.env.Stdout, map[string]string{
					"version": Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
				})
			}
			fmt.Fprintln(a.env.Stdout, versionString())
			return nil
		},
	}
}
