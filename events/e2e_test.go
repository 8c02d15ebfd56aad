package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picloud/picloud/internal/ssetest"
)

// End-to-end tests: real `picloud serve` processes, real Lua workers, real
// HTTP on 127.0.0.1, one real PostgreSQL database.

// buildBins returns picloud and picloud-worker: make's when it built them
// (PICLOUD_BIN_DIR), else built into dir.
func buildBins(t *testing.T, dir string) (serve, worker string) {
	t.Helper()
	serve = filepath.Join(dir, "picloud")
	worker = filepath.Join(dir, "picloud-worker")
	if bin := os.Getenv("PICLOUD_BIN_DIR"); bin != "" {
		if _, err := os.Stat(filepath.Join(bin, "picloud-worker")); err == nil {
			serve, worker = filepath.Join(bin, "picloud"), filepath.Join(bin, "picloud-worker")
		}
	}
	var builds [][2]string
	if strings.HasPrefix(worker, dir) {
		builds = append(builds, [2]string{serve, "../cmd/picloud"}, [2]string{worker, "../cmd/picloud-worker"})
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b[1], err, out)
		}
	}
	return serve, worker
}

// serveProc is one running server process.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	token  string
	logBuf *bytes.Buffer
	mu     *sync.Mutex
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// startServe starts a server on dbURL with dataDir (shared data dirs share
// the admin token) and waits until it is ready.
func startServe(t *testing.T, serveBin, workerBin, dbURL, dataDir string, extra ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	p := &serveProc{t: t, url: "http://" + addr, logBuf: &bytes.Buffer{}, mu: &sync.Mutex{}}
	args := append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--worker-path", workerBin,
		"--retry-base", "50ms", "--rescue-after", "20s", "--log-level", "warn"}, extra...)
	p.cmd = exec.Command(serveBin, args...)
	p.cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	p.cmd.Stdout = lockedWriter{p.mu, p.logBuf}
	p.cmd.Stderr = lockedWriter{p.mu, p.logBuf}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(syscall.SIGTERM) })
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	p.token = strings.TrimSpace(string(tok))
	return p
}

func (p *serveProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logBuf.String()
}

// kill sends sig and waits for the process to end.
func (p *serveProc) kill(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// call makes an API request and decodes a JSON answer into out.
func (p *serveProc) call(method, path string, in, out any, header ...string) int {
	p.t.Helper()
	var body io.Reader
	if b, ok := in.([]byte); ok {
		body = bytes.NewReader(b)
	} else if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, body)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	if resp.StatusCode >= 300 && out == nil {
		p.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

func (p *serveProc) deploy(name, source string, maxAttempts int, kv ...any) {
	p.t.Helper()
	req := map[string]any{"name": name, "source": source, "max_attempts": maxAttempts}
	for i := 0; i+1 < len(kv); i += 2 {
		req[kv[i].(string)] = kv[i+1]
	}
	if st := p.call(http.MethodPost, "/api/v1/functions", req, nil); st != http.StatusCreated && st != http.StatusOK {
		p.t.Fatalf("deploy %s: status %d", name, st)
	}
}

// e2eSetup builds the binaries and makes a database and a data dir.
func e2eSetup(t *testing.T) (serveBin, workerBin, dbURL, dataDir string, pool *pgxpool.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds binaries and runs servers")
	}
	dbURL = newRiverDB(t)
	dir := t.TempDir()
	serveBin, workerBin = buildBins(t, dir)
	dataDir = filepath.Join(dir, "data")
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return serveBin, workerBin, dbURL, dataDir, pool
}

// countSource counts its deliveries per event id in kv, so duplicates
// survive a kill -9 of the server.
const countSource = `
function handle(req)
  local x = 0
  for i = 1, 100000 do x = x + i end -- a few ms of work, so deliveries queue up
  kv.incr("seen:" .. req.event.id, 1)
  return "ok"
end
`

func TestE2E_KillNineLosesNoDelivery(t *testing.T) {
	serveBin, workerBin, dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, serveBin, workerBin, dbURL, dataDir)
	srv.deploy("counter", countSource, 10, "max_workers", 1, "concurrency", 2)
	if st := srv.call(http.MethodPost, "/api/v1/triggers", map[string]any{"function": "counter", "topic": "load"}, nil); st != http.StatusCreated {
		t.Fatalf("add trigger: %d", st)
	}
	const n = 1000
	var wg sync.WaitGroup
	ids := make(chan int64, n)
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += 8 {
				var out struct {
					ID int64 `json:"id"`
				}
				if st := srv.call(http.MethodPost, "/api/v1/events/load", []byte(fmt.Sprintf(`{"i":%d}`, i)), &out); st != http.StatusAccepted {
					t.Errorf("publish %d: status %d", i, st)
					return
				}
				ids <- out.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	if t.Failed() {
		t.FailNow()
	}
	var doneBefore int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM kv WHERE function = 'counter'`).Scan(&doneBefore)
	srv.kill(syscall.SIGKILL)
	t.Logf("killed -9 with %d of %d deliveries done", doneBefore, n)

	startServe(t, serveBin, workerBin, dbURL, dataDir)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var done int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM kv WHERE function = 'counter'`).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d deliveries completed after the restart", done, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var dups, extra int
	if err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(value::bigint - 1), 0)
		FROM kv WHERE function = 'counter' AND value::bigint > 1`).Scan(&dups, &extra); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for id := range ids {
		var v int
		if err := pool.QueryRow(context.Background(), `SELECT value::int FROM kv WHERE function = 'counter' AND key = $1`,
			fmt.Sprintf("seen:%d", id)).Scan(&v); err != nil || v < 1 {
			t.Errorf("event %d: delivered %d times (%v)", id, v, err)
		}
		seen++
	}
	t.Logf("all %d deliveries completed after kill -9 and restart; %d delivered more than once (%d extra runs)", seen, dups, extra)
}

func TestE2E_TwoServersCronTickOnceAndStream(t *testing.T) {
	serveBin, workerBin, dbURL, dataDir, pool := e2eSetup(t)
	a := startServe(t, serveBin, workerBin, dbURL, dataDir)
	b := startServe(t, serveBin, workerBin, dbURL, dataDir)
	a.deploy("ticker", `
function handle(req)
  kv.incr("tick:" .. req.event.tick, 1)
  events.emit("ticks", { tick = req.event.tick })
  return "ok"
end`, 3)

	// The stream on server b, through curl when present, else Go's client.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, r := ssetest.Open(t, ctx, b.url+"/api/v1/events/stream?topic=ticks",
		http.Header{"Authorization": {"Bearer " + b.token}})
	defer resp.Body.Close()

	var sc struct {
		ID int64 `json:"id"`
	}
	if st := a.call(http.MethodPost, "/api/v1/schedules", map[string]any{"function": "ticker", "expr": "@every 1s"}, &sc); st != http.StatusCreated {
		t.Fatalf("add schedule: %d %+v", st, sc)
	}
	var bad map[string]string
	if st := a.call(http.MethodPost, "/api/v1/schedules", map[string]any{"function": "ticker", "expr": "*/5 * * *"}, &bad); st != http.StatusBadRequest ||
		!strings.Contains(bad["error"], "expected exactly 5 fields") {
		t.Errorf("bad expression: %d %v", st, bad)
	}
	// Three ticks, emitted by whichever server ran them, seen on b's stream.
	var last int64
	for i := 0; i < 3; i++ {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if m.ID <= last {
			t.Fatalf("stream ids not increasing: %d after %d", m.ID, last)
		}
		last = m.ID
	}
	if st := a.call(http.MethodPost, fmt.Sprintf("/api/v1/schedules/%d/disable", sc.ID), nil, nil); st != http.StatusOK {
		t.Fatalf("disable: %d", st)
	}
	time.Sleep(2 * time.Second) // let a tick already queued finish (the counts below are exact either way)
	rows, err := pool.Query(context.Background(), `SELECT key, value::int FROM kv WHERE function = 'ticker'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ticks := 0
	for rows.Next() {
		var k string
		var v int
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		ticks++
		if v != 1 {
			t.Errorf("%s ran %d times, want once across two servers", k, v)
		}
	}
	if ticks < 3 {
		t.Errorf("%d ticks ran, want at least 3", ticks)
	}

	// Async invocation through the API helper's /fn route.
	a.deploy("echo", `function handle(req) return "echo " .. req.body end`, 1)
	var acc struct {
		InvocationID string `json:"invocation_id"`
	}
	if st := a.call(http.MethodPost, "/fn/echo", []byte("hi"), &acc, "X-PiCloud-Async", "1"); st != http.StatusAccepted || acc.InvocationID == "" {
		t.Fatalf("async call: %d %+v", st, acc)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		var inv map[string]any
		b.call(http.MethodGet, "/api/v1/invocations/"+acc.InvocationID, nil, &inv)
		st, _ := inv["status"].(string)
		if st != "queued" && st != "running" && st != "" {
			if st != "succeeded" || inv["http_status"] != float64(200) || inv["trigger"] != "http" {
				t.Errorf("async invocation: %v", inv)
			}
			// The API does not show the result yet: read it from the record.
			var result []byte
			if err := pool.QueryRow(context.Background(), "SELECT result FROM invocations WHERE id = $1",
				acc.InvocationID).Scan(&result); err != nil || string(result) != "echo hi" {
				t.Errorf("async result %q (%v), want %q", result, err, "echo hi")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("async invocation still %q", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := a.call(http.MethodPost, "/fn/nope", []byte("hi"), nil, "X-PiCloud-Async", "1"); st != http.StatusNotFound {
		t.Errorf("async call of a missing function: %d, want 404", st)
	}
}
