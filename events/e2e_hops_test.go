package events

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A Lua handler that emits to its own topic, on a real server: it sees
// req.event.hop, runs hops 0 to MaxHops and stops with one dead letter.
func TestE2E_LuaSelfEmitterStopsAtHopLimit(t *testing.T) {
	serveBin, workerBin, dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, serveBin, workerBin, dbURL, dataDir)
	srv.deploy("echo-loop", `
function handle(req)
  kv.incr("runs", 1)
  kv.set("hop:" .. req.event.hop, true)
  events.emit("echo", { from = req.event.hop })
  return "ok"
end`, 5)
	if st := srv.call(http.MethodPost, "/api/v1/triggers", map[string]any{"function": "echo-loop", "topic": "echo"}, nil); st != http.StatusCreated {
		t.Fatalf("add trigger: %d", st)
	}
	if st := srv.call(http.MethodPost, "/api/v1/events/echo", []byte(`{"start":true}`), nil); st != http.StatusAccepted {
		t.Fatalf("publish: %d", st)
	}
	deadline := time.Now().Add(waitTimeout)
	var dls struct {
		DeadLetters []struct {
			Attempts []struct {
				Error string `json:"error"`
			} `json:"attempts"`
		} `json:"dead_letters"`
	}
	for len(dls.DeadLetters) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter within %s", waitTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, not timing
		srv.call(http.MethodGet, "/api/v1/dead-letters?function=echo-loop", nil, &dls)
	}
	if len(dls.DeadLetters) != 1 || len(dls.DeadLetters[0].Attempts) != 1 ||
		!strings.HasPrefix(dls.DeadLetters[0].Attempts[0].Error, "hop limit:") {
		t.Fatalf("dead letters %+v, want one of one attempt naming the hop limit", dls)
	}
	var runs, maxHop int
	if err := pool.QueryRow(context.Background(), `SELECT
			(SELECT value::int FROM kv WHERE function = 'echo-loop' AND key = 'runs'),
			(SELECT max(substr(key, 5)::int) FROM kv WHERE function = 'echo-loop' AND key LIKE 'hop:%')`).Scan(&runs, &maxHop); err != nil {
		t.Fatal(err)
	}
	if runs != MaxHops+1 || maxHop != MaxHops {
		t.Fatalf("ran %d times up to hop %d, want %d runs up to hop %d", runs, maxHop, MaxHops+1, MaxHops)
	}
}

// On a real server, an anonymous async call of a public function needs
// the function's opt-in.
func TestE2E_AnonymousAsyncNeedsOptIn(t *testing.T) {
	serveBin, workerBin, dbURL, dataDir, _ := e2eSetup(t)
	srv := startServe(t, serveBin, workerBin, dbURL, dataDir)
	src := `function handle(req) return "ok" end`
	srv.deploy("closed", src, 1)
	srv.deploy("open", src, 1, "allow_async", true)
	post := func(name string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.url+"/fn/"+name, strings.NewReader("x"))
		req.Header.Set("X-PiCloud-Async", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := post("closed"); st != http.StatusForbidden || !strings.Contains(body, `"async_not_allowed"`) {
		t.Errorf("anonymous async of a function without opt-in: %d %s, want 403 async_not_allowed", st, body)
	}
	if st, body := post("open"); st != http.StatusAccepted {
		t.Errorf("anonymous async of a function with --allow-async: %d %s, want 202", st, body)
	}
	var f map[string]any
	srv.call(http.MethodGet, "/api/v1/functions/open", nil, &f)
	if f["allow_async"] != true {
		t.Errorf("GET function: allow_async = %v", f["allow_async"])
	}
}
