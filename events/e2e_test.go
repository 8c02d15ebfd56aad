package events

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/internal/ssetest"
)

// End-to-end tests: real `picloud serve` processes (internal/e2etest),
// real Lua workers, real HTTP on 127.0.0.1, one real PostgreSQL database.

// serveProc is one running server and the test it serves.
type serveProc struct {
	*e2etest.Node
	t *testing.T
}

// startServe starts a server on dbURL with dataDir (shared data dirs share
// the admin token), quick retries and rescues, and waits until it is
// ready.
func startServe(t *testing.T, dbURL, dataDir string) *serveProc {
	t.Helper()
	return &serveProc{t: t, Node: e2etest.Start(t, e2etest.Config{DatabaseURL: dbURL, DataDir: dataDir,
		Args: []string{"--retry-base", "50ms", "--rescue-after", "20s"}})}
}

// call makes an API request with the admin token and decodes a JSON
// answer into out.
func (p *serveProc) call(method, path string, in, out any, header ...string) int {
	p.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	r := p.Do(p.t, e2etest.Request{Method: method, Path: path, Token: p.Admin, Body: in, Header: h})
	if out != nil && len(r.Body) > 0 {
		r.JSON(p.t, out)
	}
	if r.Status >= 300 && out == nil {
		p.t.Logf("%s %s: %d %s", method, path, r.Status, r.Body)
	}
	return r.Status
}

func (p *serveProc) deploy(name, source string, maxAttempts int, kv ...any) {
	p.t.Helper()
	req := map[string]any{"name": name, "source": source, "max_attempts": maxAttempts}
	for i := 0; i+1 < len(kv); i += 2 {
		req[kv[i].(string)] = kv[i+1]
	}
	p.Deploy(p.t, req)
}

// e2eSetup makes a database, a data dir and a pool on the database.
func e2eSetup(t *testing.T) (dbURL, dataDir string, pool *pgxpool.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds binaries and runs servers")
	}
	dbURL = newRiverDB(t)
	dataDir = filepath.Join(t.TempDir(), "data")
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return dbURL, dataDir, pool
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
	dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, dbURL, dataDir)
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
	srv.Kill()
	t.Logf("killed -9 with %d of %d deliveries done", doneBefore, n)

	srv.Restart(t)
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
	dbURL, dataDir, pool := e2eSetup(t)
	a := startServe(t, dbURL, dataDir)
	b := startServe(t, dbURL, dataDir)
	a.deploy("ticker", `
function handle(req)
  kv.incr("tick:" .. req.event.tick, 1)
  events.emit("ticks", { tick = req.event.tick })
  return "ok"
end`, 3)

	// The stream on server b, through curl when present, else Go's client.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, r := ssetest.Open(t, ctx, b.URL+"/api/v1/events/stream?topic=ticks",
		http.Header{"Authorization": {"Bearer " + b.Admin}})
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
