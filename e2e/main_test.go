// Package e2e tests PiCloud end to end: the real picloud and picloud-worker
// binaries, built in TestMain, a real `picloud serve` subprocess on
// 127.0.0.1 against a fresh PostgreSQL database, real HTTP.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// harness is the server shared by every test of the package.
type harness struct {
	*node
	binDir  string
	dataDir string
	dbURL   string // the test's own database
	admin   string // the admin token read from the data dir
}

// node is one `picloud serve` process.
type node struct {
	base    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error

	logMu sync.Mutex
	log   bytes.Buffer
}

// h is set by TestMain; nil when DATABASE_URL is unset (tests skip).
var h *harness

// skipReason says why h is nil.
var skipReason string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		skipReason = "DATABASE_URL is unset (make test-http sets it)"
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "picloud-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	hh := &harness{binDir: filepath.Join(tmp, "bin"), dataDir: filepath.Join(tmp, "data")}
	if err := hh.build(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
		return 1
	}
	ctx := context.Background()
	dropDB, err := hh.createDB(ctx, base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create database:", err)
		return 1
	}
	defer dropDB()
	if hh.node, err = hh.startNode(hh.dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start server:", err)
		return 1
	}
	if err := hh.readAdmin(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		fmt.Fprintln(os.Stderr, hh.logs())
		hh.kill()
		return 1
	}
	h = hh
	code := m.Run()
	if err := hh.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: picloud serve did not stop cleanly on SIGTERM:", err)
		fmt.Fprintln(os.Stderr, hh.logs())
		code = 1
	}
	if code != 0 && os.Getenv("E2E_SHOW_LOG") != "" {
		fmt.Fprintln(os.Stderr, hh.logs())
	}
	return code
}

// build compiles bin/picloud and bin/picloud-worker like `make build`.
func (hh *harness) build() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.Command("go", "build", "-trimpath", "-o", hh.binDir+"/", "./cmd/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %w\n%s", err, b)
	}
	return nil
}

// createDB creates a fresh database with pg_stat_statements and returns
// how to drop it.
func (hh *harness) createDB(ctx context.Context, base string) (func(), error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "picloud_e2e_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	hh.dbURL = u.String()
	c2, err := pgx.Connect(ctx, hh.dbURL)
	if err != nil {
		return nil, err
	}
	_, err = c2.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	c2.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("create pg_stat_statements: %w", err)
	}
	return func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}, nil
}

var servingRE = regexp.MustCompile(`serving: addr=(\S+)`)

// startNode runs picloud serve on a free port against the test database
// and waits until it is ready.
func (hh *harness) startNode(dataDir string) (*node, error) {
	return startServe(hh.binDir, hh.dbURL, dataDir)
}

// startServe runs picloud serve from binDir on a free port of 127.0.0.1
// against dbURL, with extra flags, and waits until it is ready.
func startServe(binDir, dbURL, dataDir string, extra ...string) (*node, error) {
	n := &node{}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "debug"}, extra...)
	cmd := exec.Command(filepath.Join(binDir, "picloud"), args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n.cmd = cmd
	n.exited = make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.logMu.Lock()
			n.log.WriteString(line + "\n")
			n.logMu.Unlock()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		n.exitErr = cmd.Wait()
		close(n.exited)
	}()
	fail := func(err error) (*node, error) {
		fmt.Fprintln(os.Stderr, n.logs())
		n.kill()
		return nil, err
	}
	select {
	case a := <-addr:
		n.base = "http://" + a
	case <-n.exited:
		return fail(fmt.Errorf("picloud serve exited: %v", n.exitErr))
	case <-time.After(90 * time.Second):
		return fail(errors.New("picloud serve did not log its address within 90s"))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(n.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("/readyz not 200 within 60s (last error %v)", err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readAdmin reads the admin token the first node wrote.
func (hh *harness) readAdmin() error {
	tok, err := os.ReadFile(filepath.Join(hh.dataDir, "admin.token"))
	if err != nil {
		return fmt.Errorf("read admin token: %w", err)
	}
	hh.admin = strings.TrimSpace(string(tok))
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (hh *node) stop() error {
	if err := hh.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-hh.exited:
		return hh.exitErr
	case <-time.After(90 * time.Second):
		hh.kill()
		return errors.New("still running 90s after SIGTERM")
	}
}

func (hh *node) kill() {
	if hh.cmd != nil && hh.cmd.Process != nil {
		_ = hh.cmd.Process.Kill()
		<-hh.exited
	}
}

func (hh *node) logs() string {
	hh.logMu.Lock()
	defer hh.logMu.Unlock()
	return hh.log.String()
}

// need returns the shared server or skips the test.
func need(t *testing.T) *harness {
	t.Helper()
	if h == nil {
		t.Skip(skipReason)
	}
	return h
}

// response is an HTTP answer read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// errorBody decodes a JSON error answer and checks its shape.
func (r response) errorBody(t *testing.T) (msg, code string) {
	t.Helper()
	var eb struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal(r.Body, &eb); err != nil || eb.Error == "" || eb.Code == "" {
		t.Fatalf("want a JSON error body {error, code}, got %d %q", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return eb.Error, eb.Code
}

// req is one request to the server.
type req struct {
	Method string
	Path   string
	Token  string
	Body   any // []byte, string or a value to encode as JSON
	Header map[string]string
}

func (hh *node) do(t *testing.T, r req) response {
	t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.Method, hh.base+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.Method, r.Path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// deploy creates (or updates) a function with the admin token.
func (hh *harness) deploy(t *testing.T, body map[string]any) {
	t.Helper()
	r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.admin, Body: body})
	if r.Status != http.StatusCreated {
		t.Fatalf("create %v: %d %s", body["name"], r.Status, r.Body)
	}
}

// token creates a token with scopes and returns its secret.
func (hh *harness) token(t *testing.T, name string, scopes ...string) string {
	t.Helper()
	r := hh.do(t, req{Method: "POST", Path: "/api/v1/tokens", Token: hh.admin,
		Body: map[string]any{"name": name, "scopes": scopes}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create token %s: %d %s", name, r.Status, r.Body)
	}
	var tc struct{ Secret string }
	r.JSON(t, &tc)
	return tc.Secret
}

// waitInvocation polls GET /api/v1/invocations/:id until the batched
// writer has stored it.
func (hh *harness) waitInvocation(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := hh.do(t, req{Method: "GET", Path: "/api/v1/invocations/" + id, Token: hh.admin})
		if r.Status == http.StatusOK {
			var m map[string]any
			r.JSON(t, &m)
			return m
		}
		if r.Status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("invocation %s: %d %s", id, r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive checks the server still answers.
func (hh *node) alive(t *testing.T) {
	t.Helper()
	if r := hh.do(t, req{Method: "GET", Path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("/healthz after the bad input: %d %s", r.Status, r.Body)
	}
}
