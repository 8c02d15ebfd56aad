package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServe_MetricsCountInvocationsAndNeedReadScope scrapes /metrics of the
// real server: it needs a token with the read scope, and counts a call to a
// function by outcome (synchronous and asynchronous), with its cold start.
func TestServe_MetricsCountInvocationsAndNeedReadScope(t *testing.T) {
	hh := need(t)
	hh.deploy(t, map[string]any{"name": "metered", "allow_async": true, "source": `function handle(req) return "m" end`})
	hh.deploy(t, map[string]any{"name": "metered-fail", "source": `function handle(req) error("boom") end`})

	if r := hh.do(t, req{Method: "GET", Path: "/fn/metered"}); r.Status != http.StatusOK {
		t.Fatalf("call: %d %s", r.Status, r.Body)
	}
	if r := hh.do(t, req{Method: "GET", Path: "/fn/metered-fail"}); r.Status != http.StatusInternalServerError {
		t.Fatalf("failing call: %d %s", r.Status, r.Body)
	}

	// An asynchronous call is counted too, once its job ran.
	r := hh.do(t, req{Method: "POST", Path: "/fn/metered", Header: map[string]string{"X-PiCloud-Async": "1"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("async call: %d %s", r.Status, r.Body)
	}
	id := r.Header.Get("X-PiCloud-Invocation-Id")
	deadline := time.Now().Add(60 * time.Second)
	for hh.waitInvocation(t, id)["status"] != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("async invocation %s did not succeed", id)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if r := hh.do(t, req{Method: "GET", Path: "/metrics"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d, want 401", r.Status)
	}
	r = hh.do(t, req{Method: "GET", Path: "/metrics", Token: hh.token(t, "metrics-reader", "read")})
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics with a read token: %d %s", r.Status, r.Body)
	}
	body := string(r.Body)
	for _, want := range []string{
		`picloud_invocations_total{function="metered",outcome="ok",trigger="http"} 2`,
		`picloud_invocations_total{function="metered-fail",outcome="error",trigger="http"} 1`,
		`picloud_cold_starts_total{function="metered"} 1`,
		`picloud_dead_letters `,
		`picloud_queue_depth `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
