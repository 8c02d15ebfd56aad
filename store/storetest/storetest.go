// Package storetest gives tests of any package a fresh, migrated PostgreSQL
// database of their own, on the server DATABASE_URL points at: a copy of a
// template database migrated once per schema version.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
// migrated (a copy of a template migrated once, see NewDBFrom), drops it
// (with any connection left) in t.Cleanup, and returns its URL. It skips
// the test when DATABASE_URL is unset. Register it before anything that
// connects, so cleanups that close pools run before the drop.
func NewDB(t testing.TB) string {
	t.Helper()
	return NewDBFrom(t, Template{})
}

// Template describes the migrated database that NewDBFrom copies: the
// schema's migrations, then Extra (say, River's tables) when set. Key
// names what Extra adds; the template's name also carries a hash of the
// schema's migrations, so a new migration makes a new template.
type Template struct {
	Key   string
	Extra func(ctx context.Context, dbURL string) error
}

// NewDBFrom is NewDB from the template tmpl. The template is built once per
// schema version and Key on the server (test binaries running at once
// take turns under an advisory lock; the first builds it under a
// temporary name and renames it when complete), then every test database
// is a CREATE DATABASE … TEMPLATE copy of it, much faster than running
// the migrations.
func NewDBFrom(t testing.TB, tmpl Template) string {
	t.Helper()
	serverURL := ServerURL(t)
	name, err := templates.get(serverURL, tmpl)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return newDB(t, serverURL, name)
}

// templates builds each template at most once per test binary.
var templates = &templateCache{built: map[string]*templateResult{}}

type templateCache struct {
	mu    sync.Mutex
	built map[string]*templateResult
}

type templateResult struct {
	once sync.Once
	name string
	err  error
}

func (c *templateCache) get(serverURL string, tmpl Template) (string, error) {
	c.mu.Lock()
	r := c.built[tmpl.Key]
	if r == nil {
		r = &templateResult{}
		c.built[tmpl.Key] = r
	}
	c.mu.Unlock()
	r.once.Do(func() { r.name, r.err = ensureTemplate(serverURL, tmpl) })
	return r.name, r.err
}

// templateName is picloud_tmpl_<hash of the migrations and key>.
func templateName(key string) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(schema.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(schema.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash the migrations: %w", err)
	}
	fmt.Fprintf(h, "key\x00%s", key)
	return "picloud_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ensureTemplate returns the name of tmpl's template database, building it
// unless another run already did.
func ensureTemplate(serverURL string, tmpl Template) (string, error) {
	name, err := templateName(tmpl.Key)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", fmt.Errorf("connect to build template %s: %w", name, err)
	}
	defer admin.Close(context.Background())
	// One builder per template across the test binaries running at once.
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", name); err != nil {
		return "", fmt.Errorf("lock template %s: %w", name, err)
	}
	defer func() { _, _ = admin.Exec(context.Background(), "SELECT pg_advisory_unlock(hashtext($1))", name) }()
	dropStale(ctx, admin) // once per test binary: leftovers of killed runs
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for template %s: %w", name, err)
	}
	if exists {
		return name, nil
	}
	build := tempDBName("tmplbuild")
	buildIdent := pgx.Identifier{build}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+buildIdent); err != nil {
		return "", fmt.Errorf("create template %s: %w", name, err)
	}
	if err := migrateTemplate(ctx, withDB(serverURL, build), tmpl); err != nil {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+buildIdent+" WITH (FORCE)")
		return "", fmt.Errorf("build template %s: %w", name, err)
	}
	// Renamed only once complete: a killed build leaves a t_tmplbuild_
	// database that dropStale removes, never a half-built template.
	for _, q := range []string{
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + build + `' AND pid <> pg_backend_pid()`,
		"ALTER DATABASE " + buildIdent + " RENAME TO " + pgx.Identifier{name}.Sanitize(),
		"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " WITH IS_TEMPLATE true",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+buildIdent+" WITH (FORCE)")
			return "", fmt.Errorf("finish template %s: %w", name, err)
		}
	}
	return name, nil
}

func migrateTemplate(ctx context.Context, dbURL string, tmpl Template) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	err = schema.Migrate(ctx, conn, hclog.NewNullLogger())
	conn.Close(context.Background())
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if tmpl.Extra != nil {
		if err := tmpl.Extra(ctx, dbURL); err != nil {
			return fmt.Errorf("%s: %w", tmpl.Key, err)
		}
	}
	return nil
}

// NewEmptyDB is NewDB without the migrations.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	return newDB(t, ServerURL(t), "")
}

// tempDBName returns t_<name>_<creation time>_<random>: the creation time
// in the name lets later runs drop what a killed run left behind.
func tempDBName(name string) string {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name = unsafeChars.ReplaceAllString(strings.ToLower(name), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return "t_" + name + "_" + strconv.FormatInt(time.Now().Unix(), 36) + "_" + hex.EncodeToString(suffix)
}

// withDB returns serverURL with the database name replaced.
func withDB(serverURL, name string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return serverURL
	}
	u.Path = "/" + name
	return u.String()
}

// newDB creates a test database, a copy of template unless it is "", and
// drops it in t.Cleanup.
func newDB(t testing.TB, serverURL, template string) string {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("storetest: parse DATABASE_URL: %v", err)
	}
	name := tempDBName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", u.Redacted(), err)
	}
	defer admin.Close(ctx)
	if template == "" {
		dropStale(ctx, admin)
	}
	ident := pgx.Identifier{name}.Sanitize()
	create := "CREATE DATABASE " + ident
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := admin.Exec(ctx, create); err != nil {
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
	return withDB(serverURL, name)
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
