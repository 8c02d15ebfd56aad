package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/picloud/picloud/internal/e2etest"
)

// fetchSource answers "ok STATUS BODY" for http.get(url) or "err MESSAGE".
func fetchSource(url string) string {
	return `
function handle(req)
  local ok, r = pcall(http.get, "` + url + `")
  if not ok then return "err " .. r end
  return "ok " .. r.status .. " " .. r.body
end`
}

// TestOutbound_LuaHTTPRequestThroughServeAndWorker calls http.request
// from a function on the real server: a local server is refused until the
// function is granted it, a redirect from it to a refused one is refused,
// a rollback takes the grant back, and /metrics counts the outcomes.
func TestOutbound_LuaHTTPRequestThroughServeAndWorker(t *testing.T) {
	hh := need(t)
	var hits, innerHits atomic.Int64
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		innerHits.Add(1)
		io.WriteString(w, "inner")
	}))
	defer inner.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			// Same machine, another name: localhost is not granted.
			http.Redirect(w, r, strings.Replace(inner.URL, "127.0.0.1", "localhost", 1)+"/x", http.StatusFound)
			return
		}
		io.WriteString(w, "hello from the LAN")
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	call := func() string {
		t.Helper()
		r := hh.Do(t, req{Method: "GET", Path: "/fn/outbound-e2e"})
		if r.Status != http.StatusOK {
			t.Fatalf("/fn/outbound-e2e: %d %s", r.Status, r.Body)
		}
		return string(r.Body)
	}

	// Version 1: no grant.
	hh.Deploy(t, map[string]any{"name": "outbound-e2e", "source": fetchSource(srv.URL + "/")})
	want := "err outbound-e2e.lua:3: http.request: 127.0.0.1 is a loopback address; allow it with --allow-net " + hostPort
	if got := call(); got != want {
		t.Fatalf("without a grant: %q, want %q", got, want)
	}
	if hits.Load() != 0 {
		t.Fatalf("the refused server got %d requests", hits.Load())
	}

	// Version 2: granted.
	r := hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/outbound-e2e", Token: hh.Admin,
		Body: map[string]any{"source": fetchSource(srv.URL + "/"), "allow_net": []string{hostPort}}})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"allow_net":["`+hostPort+`"]`) {
		t.Fatalf("deploy with allow_net: %d %s", r.Status, r.Body)
	}
	if got := call(); got != "ok 200 hello from the LAN" {
		t.Fatalf("with a grant: %q", got)
	}

	// Version 3: same grant, a redirect to a name that is not granted.
	r = hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/outbound-e2e", Token: hh.Admin,
		Body: map[string]any{"source": fetchSource(srv.URL + "/redirect")}})
	if r.Status != http.StatusOK {
		t.Fatalf("deploy v3: %d %s", r.Status, r.Body)
	}
	if got := call(); !strings.Contains(got, "localhost resolves to 127.0.0.1, a loopback address; allow it with --allow-net localhost:") ||
		!strings.Contains(got, "(redirected from "+srv.URL+"/redirect)") {
		t.Fatalf("redirect: %q", got)
	}
	if innerHits.Load() != 0 {
		t.Fatalf("the redirect target got %d requests", innerHits.Load())
	}

	// A rollback to version 1 takes the grant back.
	r = hh.Do(t, req{Method: "POST", Path: "/api/v1/functions/outbound-e2e/rollback", Token: hh.Admin, Body: map[string]any{"version": 1}})
	if r.Status != http.StatusOK {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	if got := call(); got != want {
		t.Fatalf("after the rollback: %q, want %q", got, want)
	}

	r = hh.Do(t, req{Method: "GET", Path: "/metrics", Token: hh.Admin})
	for _, line := range []string{
		`picloud_outbound_requests_total{function="outbound-e2e",outcome="ok"} 1`,
		`picloud_outbound_requests_total{function="outbound-e2e",outcome="refused"} 3`,
	} {
		if !strings.Contains(string(r.Body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

func TestOutbound_BadAllowNetIs422(t *testing.T) {
	hh := need(t)
	r := hh.Do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.Admin,
		Body: map[string]any{"name": "outbound-bad", "source": fetchSource("http://x/"), "allow_net": []string{"http://nas.lan/"}}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	msg, code := r.ErrorBody(t)
	if code != "invalid_value" || !strings.Contains(msg, `allow_net: "http://nas.lan/" is a URL`) {
		t.Fatalf("error %q %q", code, msg)
	}
}

// TestOutbound_NodeDenyListWinsOverAGrant starts a node with
// --outbound-deny: a function granted the destination is still refused.
func TestOutbound_NodeDenyListWinsOverAGrant(t *testing.T) {
	hh := need(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	n := e2etest.Start(t, e2etest.Config{DatabaseURL: hh.dbURL, DataDir: t.TempDir(),
		Args: []string{"--outbound-deny", "127.0.0.0/8,*.internal", "--outbound-max-requests", "7"}})
	r := n.Do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.Admin,
		Body: map[string]any{"name": "outbound-denied", "source": fetchSource(srv.URL + "/"), "allow_net": []string{hostPort}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	r = n.Do(t, req{Method: "GET", Path: "/fn/outbound-denied"})
	want := "err outbound-denied.lua:3: http.request: 127.0.0.1 port " + srv.URL[strings.LastIndexByte(srv.URL, ':')+1:] +
		" is denied on this node (picloud serve --outbound-deny)"
	if r.Status != http.StatusOK || string(r.Body) != want {
		t.Fatalf("%d %q, want %q", r.Status, r.Body, want)
	}
	if hits.Load() != 0 {
		t.Fatalf("the denied server got %d requests", hits.Load())
	}
}
