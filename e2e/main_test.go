// Package e2e tests PiCloud end to end: the real picloud and picloud-worker
// binaries (internal/e2etest), a real `picloud serve` subprocess on
// 127.0.0.1 against a database of its own, real HTTP.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/store/storetest"
)

// harness is the node shared by every test of the package.
type harness struct {
	*e2etest.Node
	dataDir string
	dbURL   string // the package's own database
}

// req and response are short names for the package's tests.
type (
	req      = e2etest.Request
	response = e2etest.Response
)

// h is set by TestMain; nil when DATABASE_URL is unset (tests skip).
var h *harness

// skipReason says why h is nil.
var skipReason string

func TestMain(m *testing.M) {
	os.Exit(e2etest.Main(sharedNode{m}))
}

// sharedNode runs the tests around the node they share.
type sharedNode struct{ m *testing.M }

func (s sharedNode) Run() int {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		skipReason = "DATABASE_URL is unset (make test-http sets it)"
		return s.m.Run()
	}
	tmp, err := os.MkdirTemp("", "picloud-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dbURL, drop, err := storetest.Create(ctx, base, "e2e", storetest.Template{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create database:", err)
		return 1
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
		}
	}()
	if err := statStatements(ctx, dbURL); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	hh := &harness{dataDir: filepath.Join(tmp, "data"), dbURL: dbURL}
	hh.Node, err = e2etest.Launch(ctx, e2etest.Config{DatabaseURL: dbURL, DataDir: hh.dataDir, Args: []string{"--log-level", "debug"}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start server:", err)
		return 1
	}
	if hh.Admin == "" {
		fmt.Fprintln(os.Stderr, "e2e: the first node wrote no admin token")
		hh.Kill()
		return 1
	}
	h = hh
	code := s.m.Run()
	if err := hh.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: picloud serve did not stop cleanly on SIGTERM:", err)
		fmt.Fprintln(os.Stderr, hh.Logs())
		code = 1
	}
	if code != 0 && os.Getenv("E2E_SHOW_LOG") != "" {
		fmt.Fprintln(os.Stderr, hh.Logs())
	}
	return code
}

// statStatements adds pg_stat_statements to the database (the hot path
// test counts statements).
func statStatements(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return fmt.Errorf("create pg_stat_statements: %w", err)
	}
	return nil
}

// startNode starts another node on the package's database with a data
// directory of its own.
func (hh *harness) startNode(t *testing.T, dataDir string) *e2etest.Node {
	t.Helper()
	return e2etest.Start(t, e2etest.Config{DatabaseURL: hh.dbURL, DataDir: dataDir, Args: []string{"--log-level", "debug"}})
}

// need returns the shared server or skips the test.
func need(t *testing.T) *harness {
	t.Helper()
	if h == nil {
		t.Skip(skipReason)
	}
	return h
}

// token creates a token with scopes and returns its secret.
func (hh *harness) token(t *testing.T, name string, scopes ...string) string {
	t.Helper()
	r := hh.Do(t, req{Method: "POST", Path: "/api/v1/tokens", Token: hh.Admin,
		Body: map[string]any{"name": name, "scopes": scopes}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create token %s: %d %s", name, r.Status, r.Body)
	}
	var tc struct{ Secret string }
	r.JSON(t, &tc)
	return tc.Secret
}

// alive checks the server still answers.
func (hh *harness) alive(t *testing.T) {
	t.Helper()
	if r := hh.Do(t, req{Method: "GET", Path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("/healthz after the bad input: %d %s", r.Status, r.Body)
	}
}
