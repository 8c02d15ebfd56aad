// Package storetest gives tests of any package a fresh, migrated PostgreSQL
// database of their own, on the server DATABASE_URL points at.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/schema"
)

var (
	unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)
	testDBName  = regexp.MustCompile(`^t_.*_([0-9a-z]+)_[0-9a-f]{8}$`)
)

// staleAfter is the age past which a test database is a leftover of a
// killed run (no test runs that long).
const staleAfter = 3 * time.Hour

// ServerURL returns DATABASE_URL, or skips the test when it is unset.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Skip("DATABASE_URL is not set: start PostgreSQL with `scripts/pg.sh start` and export DATABASE_URL=$(scripts/pg.sh url)")
	}
	return u
}

// NewDB creates a database named after the test on DATABASE_URL's server,
// applies the migrations, drops it (with any connection left) in
// t.Cleanup, and returns its URL. It skips the test when DATABASE_URL is
// unset. Register it before anything that connects, so cleanups that close
// pools run before the drop.
func NewDB(t testing.TB) string {
	t.Helper()
	dbURL := NewEmptyDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("storetest: connect to test database: %v", err)
	}
	defer conn.Close(ctx)
	if err := schema.Migrate(ctx, conn, hclog.NewNullLogger()); err != nil {
		t.Fatalf("storetest: migrate test database: %v", err)
	}
	return dbURL
}

// NewEmptyDB is NewDB without the migrations.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	serverURL := ServerURL(t)
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("storetest: parse DATABASE_URL: %v", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	// The creation time in the name lets later runs drop what a killed
	// run left behind.
	name = "t_" + name + "_" + strconv.FormatInt(time.Now().Unix(), 36) + "_" + hex.EncodeToString(suffix)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", u.Redacted(), err)
	}
	defer admin.Close(ctx)
	dropStale(ctx, admin)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("storetest: connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// dropStale drops test databases older than staleAfter; best effort.
func dropStale(ctx context.Context, admin *pgx.Conn) {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 't\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		m := testDBName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		created, err := strconv.ParseInt(m[1], 36, 64)
		if err != nil || time.Since(time.Unix(created, 0)) < staleAfter {
			continue
		}
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
}
