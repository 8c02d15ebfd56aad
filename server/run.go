// Package server wires PiCloud's serve process: it opens the store,
// migrates, creates the first admin token, starts the supervisor, the
// function cache and the invocation writer, serves the HTTP API and drains
// everything on shutdown.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/outbound"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// Files in the data directory.
const (
	AdminTokenFile = "admin.token"
	SecretKeyFile  = "secret.key"
)

// AdminTokenName is the name of the token created on first start.
const AdminTokenName = "admin"

// HTTP server timeouts. The server has no write timeout of its own: a call
// may run up to its function's timeout (15 min at most) and the event
// stream stays open; the API sets a deadline on each answer instead
// (Config.WriteTimeout).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

// Run serves until ctx is done, then drains and returns nil; it returns an
// error if start-up fails or the listener dies.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Listener != nil {
		defer cfg.Listener.Close() // also when start-up fails before serving
	}
	if cfg.UIListener != nil {
		defer cfg.UIListener.Close()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	key, err := store.LoadOrCreateSecretKey(filepath.Join(cfg.DataDir, SecretKeyFile))
	if err != nil {
		return fmt.Errorf("load secret key: %w", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, log, store.WithSecretKey(key), store.WithNodeID(cfg.NodeID))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	if err := bootstrapAdmin(ctx, st, cfg.DataDir, log); err != nil {
		return err
	}

	met, err := newMetrics(cfg, log)
	if err != nil {
		return fmt.Errorf("create metrics: %w", err)
	}
	outCfg := cfg.Outbound
	outCfg.Observer = met
	out, err := outbound.New(outCfg)
	if err != nil {
		return fmt.Errorf("configure outbound HTTP: %w", err)
	}
	defer out.Close()
	sup, err := supervisor.New(supervisor.Config{
		Observer:        met,
		WorkerPath:      cfg.WorkerPath,
		Host:            nodeHost{Host: st.Host(store.WithBlobLimits(store.BlobLimits{MaxSize: cfg.Blobs.MaxSize, BucketQuota: cfg.Blobs.BucketQuota})), Client: out},
		Logger:          log.Named("supervisor"),
		MaxWorkersTotal: cfg.MaxWorkersTotal,
		QueueTimeout:    cfg.QueueTimeout,
		RequireLimits:   cfg.RequireLimits,
		WorkerUser:      cfg.WorkerUser,
		RequireSandbox:  cfg.RequireSandbox,
		SpareWorkers:    spareWorkers(cfg),
	})
	if err != nil {
		return fmt.Errorf("configure supervisor: %w", err)
	}
	if err := sup.Start(ctx); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	defer sup.Stop()

	// One LISTEN connection for the node: every cache and the events
	// service subscribe before it starts.
	notifier := st.NewNotifier(store.NotifierConfig{Logger: log})
	rec := newReconciler(sup, log)
	cache := store.NewFunctionCache(st, store.FunctionCacheConfig{Logger: log, OnChange: rec.changed, Notifier: notifier})
	rec.cache = cache
	tokens := store.NewTokenCache(st, store.TokenCacheConfig{Logger: log, Notifier: notifier})
	tails := api.NewInvocationFeed() // the dashboard's live tails, woken by written records
	notifier.Subscribe(store.InvocationsChannel, tails.Notify, tails.State)
	writer := store.NewInvocationWriter(st, store.InvocationWriterConfig{Logger: log})
	invoker, err := invoke.New(invoke.Config{
		Functions: cache,
		Runner:    sup,
		Writer:    writer,
		Counter:   writer,
		Policy:    cfg.RecordPolicy,
		Observer:  metricsObserver{met},
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("build invoker: %w", err)
	}
	stopping := make(chan struct{})
	var agent *nodeAgent // set before the listener serves /readyz
	evCfg := events.Config{
		Store:     st.Events(),
		Functions: cache,
		Invoker:   invoker, // the service becomes its Committer
		Notifier:  notifier,
		Logger:    log,
		Stopping:  stopping,
		NodeID:    cfg.NodeID,
	}.WithOptions(cfg.Events)
	evCfg.NoJobs = evCfg.NoJobs || !cfg.Roles.Data              // only data nodes work jobs
	evCfg.NoScheduler = evCfg.NoScheduler || !cfg.Roles.Control // only control nodes fire cron
	evs, err := events.New(evCfg)
	if err != nil {
		return fmt.Errorf("build events service: %w", err)
	}
	h, err := api.New(api.Deps{
		Store:          st,
		Functions:      cache,
		Tokens:         tokens,
		Invoker:        invoker,
		Supervisor:     sup,
		Events:         evs,
		ValidateSource: func(ctx context.Context, src string) error { return validateSource(ctx, sup, src) },
		Logger:         log,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxResponse:    cfg.MaxResponseBytes,
		WriteTimeout:   cfg.WriteTimeout,
		Stopping:       stopping,
		Roles:          cfg.Roles,
		NodeID:         cfg.NodeID,

		TrustedProxies:  cfg.TrustedProxies,
		BlobMaxSize:     cfg.Blobs.MaxSize,
		BlobBucketQuota: cfg.Blobs.BucketQuota,
		Ready:           func() error { return agent.ready() },
	})
	if err != nil {
		return fmt.Errorf("build api: %w", err)
	}
	if err := wireMetrics(met, st, sup, writer, h); err != nil {
		return fmt.Errorf("wire metrics: %w", err)
	}

	if err := notifier.Start(ctx); err != nil {
		return fmt.Errorf("start notifier: %w", err)
	}
	defer notifier.Stop()
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	go rec.run(recCtx)
	defer func() { stopRec(); <-rec.done }()
	if err := writer.Start(ctx); err != nil {
		return fmt.Errorf("start invocation writer: %w", err)
	}
	// Deferred calls run in reverse: the events service stops first, then
	// the writer flushes the records of every drained call, then the
	// notifier, the supervisor (its workers) and the store.
	defer writer.Stop()

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		defer ln.Close() // closed by Serve, or here if start-up fails
	}
	// The registry: heartbeats (and the reaping of dead nodes) run until
	// the events service has drained, then the node leaves.
	agent = newNodeAgent(st, sup, store.Node{
		ID: cfg.NodeID, Address: cmp.Or(cfg.Advertise, ln.Addr().String()), Roles: cfg.Roles.List(),
		Version: cfg.Version, StartedAt: time.Now(), Lease: cfg.Lease,
	}, cfg.Heartbeat, log)
	agent.fence = evs.Fence // a node that cannot heartbeat stops claiming jobs
	agentCtx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	go agent.run(agentCtx)
	defer func() { stopAgent(); agent.wait() }()

	sweeper := newBlobSweeper(st, cfg.Blobs, log)
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	go sweeper.run(sweepCtx)
	defer func() { stopSweep(); <-sweeper.done }()

	if err := evs.Start(ctx); err != nil {
		return fmt.Errorf("start events: %w", err)
	}
	defer evs.Stop()

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "node", cfg.NodeID, "roles", cfg.Roles.String())
	stopUI, err := startUI(cfg, h, tails, log) // the dashboard, on its own origin
	if err != nil {
		close(stopping)
		_ = srv.Close()
		return err
	}
	defer stopUI()
	if cfg.OnReady != nil {
		cfg.OnReady()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		close(stopping)
		return fmt.Errorf("serve http: %w", err)
	}

	log.Info("shutting down: draining requests", "timeout", cfg.ShutdownTimeout)
	if cfg.OnStopping != nil {
		cfg.OnStopping()
	}
	close(stopping) // /readyz fails from now on
	if cfg.DrainDelay > 0 {
		log.Info("draining: /readyz fails; still serving while the load balancer notices", "delay", cfg.DrainDelay)
		time.Sleep(cfg.DrainDelay)
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		log.Warn("drain timed out: closing the remaining connections", "error", err)
		_ = srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", "error", err)
	}
	log.Info("http drained; stopping workers")
	return nil
}

// bootstrapAdmin creates the admin token when the database has no active
// token, and writes its secret to <dataDir>/admin.token (0600). The secret
// is never logged; only the file's path is.
func bootstrapAdmin(ctx context.Context, st *store.Store, dataDir string, log hclog.Logger) error {
	n, err := st.CountTokens(ctx)
	if err != nil {
		return fmt.Errorf("count tokens: %w", err)
	}
	if n > 0 {
		return nil
	}
	secret, hash, err := api.NewTokenSecret()
	if err != nil {
		return fmt.Errorf("generate admin token: %w", err)
	}
	path := filepath.Join(dataDir, AdminTokenFile)
	tmp, err := os.CreateTemp(dataDir, ".admin.token-*")
	if err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write admin token: %w", err)
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write admin token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	_, created, err := st.BootstrapToken(ctx, AdminTokenName, []string{api.ScopeAdmin}, hash[:])
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	if !created {
		return nil // another node was first
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write admin token to %s: %w", path, err)
	}
	log.Info("created the admin token", "path", path)
	return nil
}

// validateSource is api.Deps.ValidateSource: the source is compiled in a
// sandboxed, limited worker process (supervisor.ValidateSource), never in
// serve; its *protocol.SyntaxError becomes the API's *SourceError.
func validateSource(ctx context.Context, sup *supervisor.Supervisor, src string) error {
	err := sup.ValidateSource(ctx, src)
	var se *protocol.SyntaxError
	if errors.As(err, &se) {
		return &api.SourceError{Line: se.Line, Column: se.Column, Message: se.Message}
	}
	return err
}

// spareWorkers is how many spare workers the node keeps: none unless it
// runs functions (the data role).
func spareWorkers(cfg Config) int {
	if !cfg.Roles.Data {
		return 0
	}
	return cfg.SpareWorkers
}
