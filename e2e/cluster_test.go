package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestServe_SecondNodeFollowsRollbackAndDelete starts a second picloud
// serve on the same database: a rollback and a delete made through the
// first node reach the second node's warm pool through LISTEN/NOTIFY.
func TestServe_SecondNodeFollowsRollbackAndDelete(t *testing.T) {
	hh := need(t)
	b := hh.startNode(t, filepath.Join(t.TempDir(), "node-b"))
	hh.Deploy(t, map[string]any{"name": "multi", "source": `function handle(req) return "one" end`})
	r := hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/multi", Token: hh.Admin,
		Body: map[string]any{"source": `function handle(req) return "two" end`}})
	if r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	eventually(t, "node b serves version 2", func() bool {
		return string(b.Do(t, req{Method: "GET", Path: "/fn/multi"}).Body) == "two"
	})
	if r = hh.Do(t, req{Method: "POST", Path: "/api/v1/functions/multi/rollback", Token: hh.Admin}); r.Status != 200 {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	eventually(t, "node b serves version 1 after the rollback", func() bool {
		return string(b.Do(t, req{Method: "GET", Path: "/fn/multi"}).Body) == "one"
	})
	if r = hh.Do(t, req{Method: "DELETE", Path: "/api/v1/functions/multi", Token: hh.Admin}); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	eventually(t, "node b answers 404 after the delete", func() bool {
		return b.Do(t, req{Method: "GET", Path: "/fn/multi"}).Status == 404
	})
}

// TestServe_SIGTERMFinishesInFlightCalls sends SIGTERM to a node while a
// slow call runs on it: the call completes, then the node exits 0.
func TestServe_SIGTERMFinishesInFlightCalls(t *testing.T) {
	hh := need(t)
	n := hh.startNode(t, filepath.Join(t.TempDir(), "node-drain"))
	hh.Deploy(t, map[string]any{"name": "slow", "cpu": 1, "source": `function handle(req)
  log.info("started")
  local t = os.clock()
  while os.clock() - t < 2 do end
  return "done"
end`})
	type answer struct {
		status int
		body   string
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(n.URL + "/fn/slow")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b), err}
	}()
	// Wait until the call is in flight on the worker.
	eventually(t, "the slow call is in flight", func() bool {
		var st struct {
			Workers []struct {
				Function string
				InFlight int `json:"inflight"`
			}
		}
		n.Do(t, req{Method: "GET", Path: "/api/v1/workers", Token: hh.Admin}).JSON(t, &st)
		for _, w := range st.Workers {
			if w.Function == "slow" && w.InFlight > 0 {
				return true
			}
		}
		return false
	})
	if err := n.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, n.Logs())
	}
	select {
	case a := <-got:
		if a.err != nil || a.status != 200 || a.body != "done" {
			t.Fatalf("in-flight call: %d %q %v", a.status, a.body, a.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the in-flight call got no answer")
	}
}

// eventually polls cond for up to 60 s (generous for a loaded machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
