// Package schema holds PiCloud's PostgreSQL migrations and applies them.
//
// Migrations are the *.sql files of this directory, embedded in the binary
// and run in order by github.com/jackc/tern/v2. Conventions for adding one:
//
//   - Name: NNN_short_name.sql, three digits, numbers contiguous (tern
//     refuses gaps). 001-009 belong to the store, 010 and up to the events
//     package; take the next free number in your range.
//   - Content: plain SQL, forward only. Each file runs in its own
//     transaction together with the update of the version row. A file is a
//     text/template (tern evaluates it with sprig), so do not write "{{" in
//     SQL. An optional "---- create above / drop below ----" line separates
//     a down migration; PiCloud never migrates down.
//   - Never edit a migration that has shipped: add a new one.
//
// Migrate takes tern's session advisory lock (pg_advisory_lock) for the
// whole run, so two nodes starting together apply each migration once: the
// second waits, then finds nothing left to do.
package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// VersionTable is the table where tern records the applied version.
const VersionTable = "picloud_schema_version"

//go:embed *.sql
var migrations embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return migrations }

// Latest returns the number of the newest embedded migration.
func Latest() (int, error) {
	paths, err := migrate.FindMigrations(migrations)
	if err != nil {
		return 0, fmt.Errorf("find migrations: %w", err)
	}
	return len(paths), nil
}

// Migrate applies every pending migration on conn, under an advisory lock.
// It is safe to call on an up-to-date database (it does nothing) and from
// several processes at once.
func Migrate(ctx context.Context, conn *pgx.Conn, logger hclog.Logger) error {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("prepare migrator: %w", err)
	}
	if err := m.LoadMigrations(migrations); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	m.OnStart = func(seq int32, name, direction, _ string) {
		logger.Info("applying migration", "sequence", seq, "name", name, "direction", direction)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Querier is what Status needs: *pgx.Conn, *pgxpool.Pool and pgx.Tx all
// satisfy it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Status reports the version the database is at (0 when never migrated) and
// the newest version embedded in this binary. It only reads.
func Status(ctx context.Context, conn Querier) (current, latest int, err error) {
	latest, err = Latest()
	if err != nil {
		return 0, 0, err
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", VersionTable).Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("look up %s: %w", VersionTable, err)
	}
	if !exists {
		return 0, latest, nil
	}
	var v int32
	if err := conn.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&v); err != nil {
		return 0, latest, fmt.Errorf("read schema version: %w", err)
	}
	return int(v), latest, nil
}
