// Package store is PiCloud's PostgreSQL layer: every SQL statement of the
// product lives here (the events package's queries in store/events*.go).
// It opens a pgx pool, applies the schema, and offers typed operations on
// functions, tokens, invocations, key-value data and secrets, plus the
// pieces the hot path needs: FunctionCache (function metadata served from
// memory, invalidated by LISTEN/NOTIFY), InvocationWriter (batched,
// non-blocking invocation records) and Host (the worker's kv and secrets
// calls).
//
// Callers never see pgx errors: a missing row is ErrNotFound, a unique
// violation ErrConflict, wrapped with what was being done.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picloud/picloud/schema"
)

// Sentinel errors. Test with errors.Is; the returned errors wrap them with
// context.
var (
	// ErrNotFound: the function, version, token, invocation or secret does
	// not exist (or, for tokens, is revoked).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is taken.
	ErrConflict = errors.New("already exists")
	// ErrInvalid: an argument the database would reject (bad cursor, key
	// too long, value not JSON, value not an integer for incr).
	ErrInvalid = errors.New("invalid argument")
	// ErrNoSecretKey: a secrets operation on a Store opened without
	// WithSecretKey.
	ErrNoSecretKey = errors.New("no secret key configured")
	// ErrNotMigrated: the database schema is older than this binary.
	ErrNotMigrated = errors.New("database schema is not up to date: run `picloud migrate`")
	// ErrUnavailable: the database could not be reached or cut the
	// connection (restarting, network down); trying again later may work.
	ErrUnavailable = errors.New("database unavailable")
)

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	logger    hclog.Logger
	secretKey []byte
	connCfg   *pgx.ConnConfig // for dedicated connections (LISTEN)
}

// Option configures Open.
type Option func(*options)

type options struct {
	secretKey []byte
	tracer    pgx.QueryTracer
	maxConns  int32
	nodeID    string
}

// WithSecretKey sets the 32-byte AES-256 key that encrypts secrets (see
// LoadOrCreateSecretKey). Without it the secrets operations return
// ErrNoSecretKey.
func WithSecretKey(key []byte) Option { return func(o *options) { o.secretKey = key } }

// WithTracer installs a pgx query tracer on every connection of the pool
// (and on the cache's LISTEN connection). Tests use it to count queries.
func WithTracer(t pgx.QueryTracer) Option { return func(o *options) { o.tracer = t } }

// WithNodeID names the node on every connection (the NodeSetting session
// setting): River job completions from a node that lost a job to another
// node are then skipped (see fenceRiverJobSQL).
func WithNodeID(id string) Option { return func(o *options) { o.nodeID = id } }

// WithMaxConns sets the pool's maximum connections (default max(8, 4×CPUs)).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = int32(n) } }

// Open connects a pool to databaseURL and checks the database answers. It
// does not migrate: call Migrate.
func Open(ctx context.Context, databaseURL string, logger hclog.Logger, opts ...Option) (*Store, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.secretKey != nil && len(o.secretKey) != SecretKeySize {
		return nil, fmt.Errorf("secret key is %d bytes, want %d: %w", len(o.secretKey), SecretKeySize, ErrInvalid)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "picloud"
	}
	if o.tracer != nil {
		cfg.ConnConfig.Tracer = o.tracer
	}
	if o.nodeID != "" {
		cfg.ConnConfig.RuntimeParams[NodeSetting] = o.nodeID
	}
	cfg.MaxConns = max(8, 4*int32(runtime.NumCPU()))
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach database at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &Store{
		pool:      pool,
		logger:    logger.Named("store"),
		secretKey: o.secretKey,
		connCfg:   cfg.ConnConfig.Copy(),
	}, nil
}

// Close closes the pool, waiting for acquired connections to be released.
func (s *Store) Close() { s.pool.Close() }

// Pool returns the underlying pool (river and the events package need it).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Logger returns the store's logger.
func (s *Store) Logger() hclog.Logger { return s.logger }

// Migrate applies pending migrations (see package schema) on one pooled
// connection, under an advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection to migrate: %w", err)
	}
	defer conn.Release()
	return schema.Migrate(ctx, conn.Conn(), s.logger)
}

// SchemaStatus returns the applied and the newest embedded schema version.
func (s *Store) SchemaStatus(ctx context.Context) (current, latest int, err error) {
	return schema.Status(ctx, s.pool)
}

// Ready reports whether the database is reachable and migrated at least to
// this binary's newest migration (for /readyz).
func (s *Store) Ready(ctx context.Context) error {
	current, latest, err := schema.Status(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("check schema version: %w", err)
	}
	if current < latest {
		return fmt.Errorf("schema at version %d of %d: %w", current, latest, ErrNotMigrated)
	}
	return nil
}

// SQLSTATE codes the store interprets.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeInvalidText         = "22P02"
	codeOutOfRange          = "22003"
	codeUntranslatable      = "22P05"
	codeBadEncoding         = "22021"
	codeNotInteger          = "PK001" // raised by picloud_kv_incr
)

// interpretError turns pgx errors into the store's sentinels, wrapped with
// what was being done. nil stays nil.
func interpretError(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeUniqueViolation:
			return fmt.Errorf("%s: %w", what, ErrConflict)
		case codeForeignKeyViolation:
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		case codeCheckViolation, codeInvalidText, codeOutOfRange, codeUntranslatable, codeBadEncoding, codeNotInteger:
			return fmt.Errorf("%s: %s: %w", what, pgErr.Message, ErrInvalid)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unavailable says err is the database being out of reach, not a
// statement's failure: no connection could be made, the connection broke
// (nothing was sent, or it was cut), or the server is shutting down or
// starting (SQLSTATE classes 08 and 57P).
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// MigrateURL is `picloud migrate`: on its own connection to the database at
// databaseURL, it reads the schema version and, unless statusOnly, applies
// the pending migrations. before and after are the versions it found and
// left, latest the one this binary knows.
func MigrateURL(ctx context.Context, databaseURL string, logger hclog.Logger, statusOnly bool) (before, after, latest int, err error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	before, latest, err = schema.Status(ctx, conn)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read the schema version: %w", err)
	}
	if before == latest || statusOnly {
		return before, before, latest, nil
	}
	if err := schema.Migrate(ctx, conn, logger); err != nil {
		return before, before, latest, fmt.Errorf("migrate: %w", err)
	}
	after, _, err = schema.Status(ctx, conn)
	if err != nil {
		return before, before, latest, fmt.Errorf("read the schema version: %w", err)
	}
	return before, after, latest, nil
}
