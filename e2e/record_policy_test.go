package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/store/storetest"
)

// TestServe_RecordPolicyKeepsFailuresAndLogsAndCountsEveryCall runs a node
// with --record-calls failures: a successful call that logged nothing
// leaves no invocation record but is counted in the per-minute aggregates;
// a failing call, a call that logged and a call through POST
// /api/v1/functions/NAME/invoke keep their full record.
func TestServe_RecordPolicyKeepsFailuresAndLogsAndCountsEveryCall(t *testing.T) {
	need(t)
	ctx := context.Background()
	dbURL := storetest.NewDB(t)
	n := e2etest.Start(t, e2etest.Config{DatabaseURL: dbURL, DataDir: filepath.Join(t.TempDir(), "d"),
		Args: []string{"--record-calls", "failures"}})
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	n.Deploy(t, map[string]any{"name": "quiet", "source": `function handle(req) return "ok" end`})
	n.Deploy(t, map[string]any{"name": "noisy", "source": `function handle(req) log.info("hello from noisy") return "ok" end`})
	n.Deploy(t, map[string]any{"name": "broken", "source": `function handle(req) error("boom") end`})
	call := func(name string, want int) string {
		t.Helper()
		r := n.Do(t, e2etest.Request{Method: http.MethodGet, Path: "/fn/" + name})
		if r.Status != want {
			t.Fatalf("call %s: %d %s, want %d", name, r.Status, r.Body, want)
		}
		return r.Header.Get("X-PiCloud-Invocation-Id")
	}
	const quietCalls = 20
	var quiet []string
	for range quietCalls {
		quiet = append(quiet, call("quiet", http.StatusOK))
	}
	noisy := call("noisy", http.StatusOK)
	broken := call("broken", http.StatusInternalServerError)
	// A call through the control plane (picloud invoke, the dashboard's
	// console) keeps its record: its caller reads it next.
	r := n.Do(t, e2etest.Request{Method: http.MethodPost, Path: "/api/v1/functions/quiet/invoke", Token: n.Admin})
	if r.Status != http.StatusOK {
		t.Fatalf("invoke quiet: %d %s", r.Status, r.Body)
	}
	invoked := r.Header.Get("X-PiCloud-Invocation-Id")

	// The records of the failing and the logging call are stored; the
	// writer stores records in the order it gets them, so once these two
	// are there, a record of any earlier quiet call would be too.
	if rec := n.WaitInvocation(t, noisy); rec["status"] != "succeeded" {
		t.Errorf("noisy's record: %v", rec)
	} else if logs, _ := rec["logs"].([]any); len(logs) != 1 {
		t.Errorf("noisy's record has logs %v, want its one line", rec["logs"])
	}
	if rec := n.WaitInvocation(t, broken); rec["status"] != "failed" {
		t.Errorf("broken's record: %v", rec)
	}
	if rec := n.WaitInvocation(t, invoked); rec["function"] != "quiet" {
		t.Errorf("the invoked call's record: %v", rec)
	}
	for _, id := range quiet {
		if r := n.Do(t, e2etest.Request{Method: http.MethodGet, Path: "/api/v1/invocations/" + id, Token: n.Admin}); r.Status != http.StatusNotFound {
			t.Fatalf("quiet call %s has a record (%d %s): successful silent calls keep none with --record-calls failures", id, r.Status, r.Body)
		}
	}
	var list struct {
		Invocations []map[string]any `json:"invocations"`
	}
	n.Do(t, e2etest.Request{Method: http.MethodGet, Path: "/api/v1/invocations?function=quiet", Token: n.Admin}).JSON(t, &list)
	if len(list.Invocations) != 1 || list.Invocations[0]["id"] != invoked {
		t.Errorf("quiet has records %v, want only the invoked call's", list.Invocations)
	}

	// Every call is counted in the aggregates (written by the writer
	// within a second or so; the wait is bounded, not asserted).
	type agg struct{ calls, errors int64 }
	read := func(fn string) agg {
		var a agg
		err := db.QueryRow(ctx, `SELECT COALESCE(sum(calls), 0)::bigint, COALESCE(sum(errors), 0)::bigint
			FROM invocation_minutes WHERE function = $1`, fn).Scan(&a.calls, &a.errors)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	deadline := time.Now().Add(30 * time.Second)
	for read("quiet").calls < quietCalls+1 || read("broken").calls < 1 || read("noisy").calls < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("aggregates after 30s: quiet %+v, noisy %+v, broken %+v", read("quiet"), read("noisy"), read("broken"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a := read("quiet"); a != (agg{quietCalls + 1, 0}) {
		t.Errorf("quiet's aggregate %+v, want %d calls, 0 errors", a, quietCalls+1)
	}
	if a := read("broken"); a != (agg{1, 1}) {
		t.Errorf("broken's aggregate %+v, want 1 call, 1 error", a)
	}
	if a := read("noisy"); a != (agg{1, 0}) {
		t.Errorf("noisy's aggregate %+v, want 1 call, 0 errors", a)
	}
}
