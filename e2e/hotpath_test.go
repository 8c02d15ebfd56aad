package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// statements returns the statements executed in the test database so far
// (pg_stat_statements), by query text, leaving out this test's own probes.
func statements(t *testing.T, conn *pgx.Conn) map[string]int64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT query, sum(calls)::bigint FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%picloud_e2e_probe%'
		GROUP BY query`)
	if err != nil {
		t.Fatalf("read pg_stat_statements: %v", err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var q string
		var n int64
		if err := rows.Scan(&q, &n); err != nil {
			t.Fatal(err)
		}
		out[q] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServe_WarmCallsRunNoQuery proves the hot path: 200 warm calls of a
// public function execute no statement but the batched invocation writes.
// Statements other tests' changes cause in the background (a handful) are
// logged, not failed; a statement per call would run about 200 times.
func TestServe_WarmCallsRunNoQuery(t *testing.T) {
	hh := need(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, hh.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	hh.Deploy(t, map[string]any{"name": "hot", "source": "function handle(req) return \"hot\" end"})
	client := &http.Client{Timeout: 30 * time.Second}
	call := func() string {
		resp, err := client.Get(hh.URL + "/fn/hot")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call: %d", resp.StatusCode)
		}
		return resp.Header.Get("X-PiCloud-Invocation-Id")
	}
	// Warm: the worker started, the function cached, and its record
	// written (so the writer is idle when we start counting).
	hh.WaitInvocation(t, call())

	before := statements(t, conn)
	var last string
	for range 200 {
		last = call()
	}
	// Wait for the writer to store the last record, through the
	// database directly (not the API, which would query).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT /* picloud_e2e_probe */ count(*) FROM invocations WHERE id = $1`, last).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the last invocation was not written within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := statements(t, conn)

	var inserts, others int64
	for q, n := range after {
		d := n - before[q]
		if d == 0 {
			continue
		}
		if isInvocationWrite(q) {
			inserts += d
			continue
		}
		others += d
		// Background work (the events service's queue, if wired) may run
		// a few statements meanwhile; a statement per call would run ~200
		// times.
		if d >= 100 {
			t.Errorf("%d executions of a statement during 200 warm calls: %s", d, q)
		} else {
			t.Logf("background statement ran %d times meanwhile: %s", d, q)
		}
	}
	if others > 20 {
		t.Errorf("200 warm calls ran %d statements besides the invocation inserts", others)
	}
	if inserts < 1 || inserts > 100 {
		t.Errorf("200 calls took %d invocation inserts, want a few batches", inserts)
	}
	t.Logf("200 warm calls: %d batched invocation writes, %d other statements (background)", inserts, others)
}

// isInvocationWrite recognises the invocation writer's batch statements
// (a multi-row INSERT or a COPY, and the per-minute aggregates' upserts).
func isInvocationWrite(q string) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	return strings.HasPrefix(q, "insert into invocations") || strings.HasPrefix(q, `copy "invocations"`) ||
		strings.HasPrefix(q, "insert into invocation_minutes") ||
		strings.HasPrefix(q, "copy invocations")
}
