package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/store"
)

// Benchmarks and measurements of bench/events.md. They run only when
// PICLOUD_BENCH=1 (they take minutes and measure, they do not assert):
//
//	PICLOUD_BENCH=1 DATABASE_URL=$(scripts/pg.sh url) go test -run 'TestBench' -v -timeout 10m ./events/

func benchEnabled(t *testing.T) {
	if os.Getenv("PICLOUD_BENCH") != "1" {
		t.Skip("set PICLOUD_BENCH=1 to run the events measurements")
	}
}

// benchSize returns the events of a throughput run and the concurrent
// publishers: PICLOUD_BENCH_EVENTS (default 20000) and
// PICLOUD_BENCH_PUBLISHERS (16).
func benchSize(t *testing.T) (events, publishers int) {
	t.Helper()
	events, publishers = 20000, 16
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_BENCH_EVENTS")); err == nil {
		events = v
	}
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_BENCH_PUBLISHERS")); err == nil {
		publishers = v
	}
	return events, publishers
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBenchIdle measures what an idle events service costs: statements
// (pg_stat_statements) and transactions (pg_stat_database) per minute on
// its database, and the CPU of this process, over PICLOUD_BENCH_IDLE
// (default 60s).
func TestBenchIdle(t *testing.T) {
	benchEnabled(t)
	b := setupDB(t, "fn")
	addTrigger(t, b, "fn", store.TriggerKindTopic, "t")
	startService(t, b, nil)
	if _, err := b.es.AddSchedule(context.Background(), store.Schedule{Function: "fn", Expr: "0 3 * * *", TZ: "UTC", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	window := 60 * time.Second
	if v := os.Getenv("PICLOUD_BENCH_IDLE"); v != "" {
		window, _ = time.ParseDuration(v)
	}
	time.Sleep(10 * time.Second) // let start-up (migrations, leader election) settle
	ctx := context.Background()
	pool := b.st.Pool()
	if _, err := pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		t.Fatalf("pg_stat_statements (needs shared_preload_libraries): %v", err)
	}
	var dbid uint32
	if err := pool.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = current_database()").Scan(&dbid); err != nil {
		t.Fatal(err)
	}
	stmts := func() (calls int64) {
		if err := pool.QueryRow(ctx, "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE dbid = $1", dbid).Scan(&calls); err != nil {
			t.Fatalf("pg_stat_statements: %v", err)
		}
		return calls
	}
	xacts := func() (n int64) {
		if _, err := pool.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datid = $1", dbid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	perQuery := func() map[string]int64 {
		rows, err := pool.Query(ctx, `SELECT calls, left(regexp_replace(query, '\s+', ' ', 'g'), 100)
			FROM pg_stat_statements WHERE dbid = $1`, dbid)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var n int64
			var q string
			if err := rows.Scan(&n, &q); err != nil {
				t.Fatal(err)
			}
			m[q] += n
		}
		return m
	}
	q0 := perQuery()
	s0, x0, c0 := stmts(), xacts(), cpuTime()
	time.Sleep(window)
	s1, x1, c1 := stmts(), xacts(), cpuTime()
	q1 := perQuery()
	perMin := func(n int64) float64 { return float64(n) * float64(time.Minute) / float64(window) }
	// The measuring queries themselves are not counted.
	t.Logf("idle over %s: %.1f statements/min, %.1f transactions/min, %.1f ms CPU/min (this test process)",
		window, perMin(s1-s0-2), perMin(x1-x0-4), float64((c1-c0).Microseconds())/1000*float64(time.Minute)/float64(window))
	type qc struct {
		q string
		n int64
	}
	var delta []qc
	for q, n := range q1 {
		if d := n - q0[q]; d > 0 && !strings.Contains(q, "pg_stat_statements") && !strings.Contains(q, "pg_stat_database") &&
			!strings.Contains(q, "pg_stat_clear_snapshot") {
			delta = append(delta, qc{q, d})
		}
	}
	sort.Slice(delta, func(i, j int) bool { return delta[i].n > delta[j].n })
	for _, d := range delta {
		t.Logf("  %5d  %s", d.n, d.q)
	}
}

// TestBenchThroughput publishes PICLOUD_BENCH_EVENTS (default 20000)
// events from PICLOUD_BENCH_PUBLISHERS (16) goroutines to one subscribed
// trivial handler and reports events/s from the first publish to the last
// handler finished, and the publish latency percentiles.
func TestBenchThroughput(t *testing.T) {
	benchEnabled(t)
	n, pubs := 20000, 16
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_BENCH_EVENTS")); err == nil {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_BENCH_PUBLISHERS")); err == nil {
		pubs = v
	}
	b := setupDB(t, "sink")
	inv := benchInvoker(t, b)
	b.runner = inv
	svc := startService(t, b, func(c *Config) { c.Workers = 128 })
	addTrigger(t, b, "sink", store.TriggerKindTopic, "bench")
	done, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	var count int64
	var mu sync.Mutex
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-b.inv.notify:
			}
			mu.Lock()
			count++
			if count == int64(n) {
				close(done)
			}
			mu.Unlock()
		}
	}()
	lat := make([]time.Duration, n)
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += pubs {
				t0 := time.Now()
				if _, err := svc.Publish(context.Background(), "bench", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), "bench"); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	pubDone := time.Since(start)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("only %d of %d handled", count, n)
	}
	total := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d events, %d publishers, invoker %s: end to end %.0f events/s (%.2fs); publish %.0f/s, latency p50 %s p99 %s",
		n, pubs, inv.name(), float64(n)/total.Seconds(), total.Seconds(), float64(n)/pubDone.Seconds(),
		lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond))
}

// procCPU returns the user+system CPU time of process pid.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// TestBenchServeIdle measures an idle `picloud serve` with a function, a
// trigger and a daily schedule, no traffic, workers at zero: its CPU and
// the statements and transactions of its database per minute.
func TestBenchServeIdle(t *testing.T) {
	benchEnabled(t)
	dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, dbURL, dataDir)
	srv.deploy("fn", `function handle(req) return "ok" end`, 5)
	{
		srv.call(http.MethodPost, "/api/v1/triggers", map[string]any{"function": "fn", "topic": "t"}, nil)
		srv.call(http.MethodPost, "/api/v1/schedules", map[string]any{"function": "fn", "expr": "0 3 * * *"}, nil)
	}
	window := 60 * time.Second
	if v := os.Getenv("PICLOUD_BENCH_IDLE"); v != "" {
		window, _ = time.ParseDuration(v)
	}
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(45 * time.Second) // start-up settles; River stops after 30 s idle
	var dbid uint32
	if err := pool.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = current_database()").Scan(&dbid); err != nil {
		t.Fatal(err)
	}
	counts := func() (stmts, xacts int64) {
		if _, err := pool.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			t.Fatal(err)
		}
		err := pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE dbid = $1),
			(SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datid = $1)`, dbid).Scan(&stmts, &xacts)
		if err != nil {
			t.Fatal(err)
		}
		return stmts, xacts
	}
	pid := srv.Pid()
	s0, x0 := counts()
	c0 := procCPU(t, pid)
	time.Sleep(window)
	c1 := procCPU(t, pid)
	s1, x1 := counts()
	perMin := func(v float64) float64 { return v * float64(time.Minute) / float64(window) }
	what := "serve"
	// The measuring queries (2 statements, 3 transactions per sample) are
	// subtracted.
	t.Logf("%s, idle %s: %.0f ms CPU/min, %.1f statements/min, %.1f transactions/min",
		what, window, perMin(float64((c1 - c0).Milliseconds())), perMin(float64(s1-s0-2)), perMin(float64(x1-x0-3)))
}

// TestBenchServeThroughput publishes PICLOUD_BENCH_EVENTS (default 20000)
// events over HTTP from PICLOUD_BENCH_PUBLISHERS (16) connections to a
// serve process, one event per request and then in batches of
// PICLOUD_BENCH_BATCH (100), each delivered to a trivial Lua handler in a
// real worker, and reports events/s from the first publish to the last
// handler finished (from the invocation records) and the publish latency
// percentiles.
func TestBenchServeThroughput(t *testing.T) {
	benchEnabled(t)
	n, pubs := benchSize(t)
	for _, batch := range []int{1, benchBatch()} {
		r := benchServe(t, n, pubs, batch)
		t.Logf("%s", r)
	}
}

// benchJobWorkers is PICLOUD_BENCH_JOB_WORKERS (default DefaultWorkers):
// the jobs worked at once, by River alone and by serve (--event-workers).
func benchJobWorkers() int {
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_BENCH_JOB_WORKERS")); err == nil && v > 0 {
		return v
	}
	return DefaultWorkers
}

// benchBatch is PICLOUD_BENCH_BATCH (default 100): events per batch
// publish.
func benchBatch() int {
	if v, err := strconv.Atoi(os.Getenv("PICLOUD_BENCH_BATCH")); err == nil && v > 0 {
		return v
	}
	return 100
}

// serveResult is one run of benchServe.
type serveResult struct {
	events, publishers, batch, handled int
	endToEnd, publish                  float64 // events/s
	p50, p99                           time.Duration
	elapsed                            time.Duration
}

func (r serveResult) String() string {
	return fmt.Sprintf("%d events over HTTP, %d publishers, %d per request, Lua handler in a worker: %d handled, "+
		"end to end %.0f events/s (%.2fs); publish %.0f events/s, request latency p50 %s p99 %s",
		r.events, r.publishers, r.batch, r.handled, r.endToEnd, r.elapsed.Seconds(), r.publish,
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
}

// benchServe runs one serve process on a fresh database and publishes n
// events from pubs connections, batch events per request.
func benchServe(t *testing.T, n, pubs, batch int) serveResult {
	t.Helper()
	dbURL, dataDir, pool := e2eSetup(t)
	srv := &serveProc{t: t, Node: e2etest.Start(t, e2etest.Config{DatabaseURL: dbURL, DataDir: dataDir,
		Args: []string{"--event-workers", strconv.Itoa(benchJobWorkers())}})}
	defer func() { _ = srv.Stop() }()
	srv.deploy("sink", `function handle(req) return "ok" end`, 5, "max_workers", 2, "concurrency", 32)
	srv.call(http.MethodPost, "/api/v1/triggers", map[string]any{"function": "sink", "topic": "bench"}, nil)
	// Warm the worker.
	srv.call(http.MethodPost, "/fn/sink", []byte("{}"), nil)

	tr := &http.Transport{MaxIdleConnsPerHost: pubs}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	reqs := (n + batch - 1) / batch
	lat := make([]time.Duration, reqs)
	path := "/api/v1/events/bench"
	if batch > 1 {
		path += "?batch=1"
	}
	body := func(k int) string {
		if batch == 1 {
			return fmt.Sprintf(`{"i":%d}`, k)
		}
		var b strings.Builder
		b.WriteByte('[')
		for i := k * batch; i < min((k+1)*batch, n); i++ {
			if i > k*batch {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"i":%d}`, i)
		}
		b.WriteByte(']')
		return b.String()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := p; k < reqs; k += pubs {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body(k)))
				req.Header.Set("Authorization", "Bearer "+srv.Admin)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[k] = time.Since(t0)
				if resp.StatusCode != http.StatusAccepted {
					t.Errorf("publish: %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	pubDone := time.Since(start)
	deadline := time.Now().Add(10 * time.Minute)
	var done int
	var last time.Time
	for {
		err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(max(started_at + duration_us * interval '1 microsecond'), now())
			FROM invocations WHERE function = 'sink' AND trigger = 'event' AND status = 'succeeded'`).Scan(&done, &last)
		if err != nil {
			t.Fatal(err)
		}
		if done >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	total := last.Sub(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return serveResult{events: n, publishers: pubs, batch: batch, handled: done,
		endToEnd: float64(done) / total.Seconds(), publish: float64(n) / pubDone.Seconds(),
		p50: lat[reqs/2], p99: lat[reqs*99/100], elapsed: total}
}

// TestBenchSideBySide runs, one after the other on this machine and
// database, River alone (single inserts and InsertMany) and PiCloud end to
// end (single and batch publishes), with the same number of publishers
// and job workers, and prints them in one table with the ratios.
func TestBenchSideBySide(t *testing.T) {
	benchEnabled(t)
	n, pubs := benchSize(t)
	batch := benchBatch()
	cool := 5 * time.Millisecond // River's default is 100 ms; PiCloud runs River with 5 ms
	load := func() string {
		b, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(b))[:3], " ")
	}
	type row struct {
		what string
		rate float64
		load string
		note string
	}
	var rows []row
	riverSingle, d := benchRiverAlone(t, riverBenchConfig{events: n, inserters: pubs, workers: benchJobWorkers(), batch: 1, fetchCooldown: cool})
	rows = append(rows, row{fmt.Sprintf("River alone, Insert, %d inserters", pubs), riverSingle, load(), fmt.Sprintf("%.2fs", d.Seconds())})
	riverBatch, d := benchRiverAlone(t, riverBenchConfig{events: n, inserters: pubs, workers: benchJobWorkers(), batch: batch, fetchCooldown: cool})
	rows = append(rows, row{fmt.Sprintf("River alone, InsertMany of %d, %d inserters", batch, pubs), riverBatch, load(), fmt.Sprintf("%.2fs", d.Seconds())})
	single := benchServe(t, n, pubs, 1)
	rows = append(rows, row{fmt.Sprintf("PiCloud, 1 event per publish, %d publishers", pubs), single.endToEnd, load(),
		fmt.Sprintf("publish %.0f/s, p50 %s, p99 %s; %.2f× River Insert", single.publish,
			single.p50.Round(10*time.Microsecond), single.p99.Round(10*time.Microsecond), single.endToEnd/riverSingle)})
	many := benchServe(t, n, pubs, batch)
	rows = append(rows, row{fmt.Sprintf("PiCloud, %d events per publish, %d publishers", batch, pubs), many.endToEnd, load(),
		fmt.Sprintf("publish %.0f/s, p50 %s, p99 %s; %.2f× River InsertMany", many.publish,
			many.p50.Round(10*time.Microsecond), many.p99.Round(10*time.Microsecond), many.endToEnd/riverBatch)})
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d events each, %d job workers, fetch cooldown %s\n", n, benchJobWorkers(), cool)
	fmt.Fprintf(&b, "| run | events/s (end to end) | load after | notes |\n|---|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s |\n", r.what, r.rate, r.load, r.note)
	}
	t.Log(b.String())
}
