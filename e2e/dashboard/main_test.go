// Package dashboard tests the dashboard end to end: real picloud and
// picloud-worker binaries, a real `picloud serve` (internal/e2etest) with
// its dashboard on its own listener, a fresh PostgreSQL database, and real
// headless Chromium (Debian's chromium package) driven by chromedp.
package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/internal/e2etest"
)

// server is the `picloud serve` node shared by the package's tests, run by
// internal/e2etest with its dashboard on a listener of its own.
type server struct {
	api, ui string // http://127.0.0.1:PORT of the data plane and the dashboard
	admin   string
	node    *e2etest.Node
}

var (
	srv        *server
	skipReason string
)

func TestMain(m *testing.M) { os.Exit(e2etest.Main(mainRun{m})) }

// mainRun starts the shared node around the tests.
type mainRun struct{ m *testing.M }

func (r mainRun) Run() int {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		skipReason = "DATABASE_URL is unset (make test sets it)"
		return r.m.Run()
	}
	tmp, err := os.MkdirTemp("", "picloud-dashboard-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	dbURL, drop, err := createDB(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: create database:", err)
		return 1
	}
	defer drop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	n, err := e2etest.Launch(ctx, e2etest.Config{DatabaseURL: dbURL, DataDir: filepath.Join(tmp, "data"),
		Args: []string{"--ui-listen", "127.0.0.1:0"}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: start server:", err)
		return 1
	}
	srv = &server{api: n.URL, ui: n.UIURL, admin: n.Admin, node: n}
	code := r.m.Run()
	if err := srv.node.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: picloud serve did not stop cleanly:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, srv.node.Logs())
	}
	return code
}

// repoRoot is the module's directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// createDB creates a fresh database on the server of base (the package's
// tests share it, so not storetest's per-test one) and returns its URL and
// how to drop it.
func createDB(base string) (string, func(), error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "picloud_dash_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}, nil
}

// restart stops the server and starts it again on the same addresses (the
// browser's page keeps its origin).
func (s *server) restart() error {
	if err := s.node.Stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	cfg := s.node.Config()
	cfg.Args = append(cfg.Args, "--listen", strings.TrimPrefix(s.api, "http://"), "--ui-listen", strings.TrimPrefix(s.ui, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := e2etest.Launch(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start again: %w", err)
	}
	s.node = n
	return nil
}

// call is one HTTP request; body is encoded as JSON unless a string.
func call(t *testing.T, method, url string, hdr map[string]string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// bearer is the Authorization header of token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}
