package outbound

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
)

// testBundle is what a client test pokes at.
type testBundle struct {
	client *Client
	seen   *countingObserver
}

type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) OutboundRequest(function, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[function+"/"+outcome]++
}

func (o *countingObserver) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

func setup(t *testing.T, cfg Config) testBundle {
	t.Helper()
	obs := &countingObserver{n: map[string]int{}}
	cfg.Observer = obs
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return testBundle{client: c, seen: obs}
}

// callCtx is the context of a call the supervisor would make: grants,
// a deadline and a worker.
func callCtx(grants []string, budget time.Duration) context.Context {
	return protocol.WithCallScope(context.Background(), &protocol.CallScope{
		Function: "fn", Version: 1, AllowNet: grants, Deadline: time.Now().Add(budget), Worker: 1,
	})
}

// server is a local server counting the requests that reached it.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func hostPort(t *testing.T, srv *httptest.Server) string {
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func get(u string) *protocol.HTTPRequest { return &protocol.HTTPRequest{Method: "GET", URL: u} }

func TestClient_RefusesLoopbackByDefault(t *testing.T) {
	b := setup(t, Config{})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") })
	_, err := b.client.HTTPRequest(callCtx(nil, 5*time.Second), "fn", get(srv.URL+"/admin"))
	want := "127.0.0.1 is a loopback address; allow it with --allow-net " + hostPort(t, srv)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if hits.Load() != 0 {
		t.Fatalf("the refused server got %d requests", hits.Load())
	}
	if b.seen.count("fn/refused") != 1 {
		t.Fatalf("observer: %v", b.seen.n)
	}
}

func TestClient_AllowedWithGrantPassesRequestAndAnswer(t *testing.T) {
	b := setup(t, Config{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Echo", r.Header.Get("X-Token"))
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
	resp, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn", &protocol.HTTPRequest{
		Method: "post", URL: srv.URL + "/items", Headers: map[string]string{"X-Token": "t1"}, Body: []byte("hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusCreated || string(resp.Body) != "POST /items hello" {
		t.Fatalf("resp = %d %q", resp.Status, resp.Body)
	}
	if resp.Headers["x-echo"] != "t1" || resp.Headers["set-cookie"] != "a=1, b=2" {
		t.Fatalf("headers = %v", resp.Headers)
	}
	if b.seen.count("fn/ok") != 1 {
		t.Fatalf("observer: %v", b.seen.n)
	}
}

func TestClient_GrantOfAnotherPortDoesNotCover(t *testing.T) {
	b := setup(t, Config{})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	_, err := b.client.HTTPRequest(callCtx([]string{"127.0.0.1:1"}, 5*time.Second), "fn", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "loopback") || hits.Load() != 0 {
		t.Fatalf("err = %v, hits = %d", err, hits.Load())
	}
}

func TestClient_RedirectToRefusedHostIsRefused(t *testing.T) {
	b := setup(t, Config{})
	inner, innerHits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal") })
	// The redirect goes to the same address by another name: "localhost"
	// is not granted, only 127.0.0.1:PORT of the outer server is.
	outer, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret", http.StatusFound)
	})
	_, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, outer)}, 5*time.Second), "fn", get(outer.URL+"/go"))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1 is a loopback address") || !strings.Contains(err.Error(), "redirected from") {
		t.Fatalf("err = %v", err)
	}
	if innerHits.Load() != 0 {
		t.Fatalf("the redirect target got %d requests", innerHits.Load())
	}
	// Granted both, the redirect is followed.
	resp, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, outer), hostPort(t, inner)}, 5*time.Second), "fn", get(outer.URL+"/go"))
	if err != nil || string(resp.Body) != "internal" {
		t.Fatalf("resp = %v, err = %v", resp, err)
	}
}

func TestClient_RedirectsAreBounded(t *testing.T) {
	b := setup(t, Config{MaxRedirects: 2})
	var srv *httptest.Server
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, srv.URL+"/again", http.StatusFound) })
	_, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "stopped after 2 redirects") || hits.Load() != 3 {
		t.Fatalf("err = %v, hits = %d", err, hits.Load())
	}
}

func TestClient_NameResolvingToLoopbackIsRefusedUnlessAllowed(t *testing.T) {
	b := setup(t, Config{})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	_, err := b.client.HTTPRequest(callCtx(nil, 5*time.Second), "fn", get("http://localhost:"+port+"/"))
	if err == nil || !strings.Contains(err.Error(), "localhost resolves to") || !strings.Contains(err.Error(), "a loopback address; allow it with --allow-net localhost:"+port) {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("server got %d requests", hits.Load())
	}
	resp, err := b.client.HTTPRequest(callCtx([]string{"localhost:" + port}, 5*time.Second), "fn", get("http://localhost:"+port+"/"))
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("resp = %v, err = %v", resp, err)
	}
}

// loopbackResolver answers 127.0.0.1 for every name: a public-looking
// name whose DNS points (or was rebound) at this machine.
type loopbackResolver struct{}

func (loopbackResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func TestClient_NameReboundToLoopbackIsRefusedUnlessGranted(t *testing.T) {
	b := setup(t, Config{Resolver: loopbackResolver{}})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	_, err := b.client.HTTPRequest(callCtx(nil, 5*time.Second), "fn", get("http://rebind.example.com:"+port+"/"))
	if err == nil || !strings.Contains(err.Error(), "rebind.example.com resolves to 127.0.0.1, a loopback address") {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("server got %d requests", hits.Load())
	}
	resp, err := b.client.HTTPRequest(callCtx([]string{"*.example.com"}, 5*time.Second), "fn", get("http://rebind.example.com:"+port+"/"))
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("granted *.example.com: resp = %v, err = %v", resp, err)
	}
}

func TestClient_NodeDenyWinsOverGrant(t *testing.T) {
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	b := setup(t, Config{Deny: []string{"127.0.0.0/8"}})
	_, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "--outbound-deny") || hits.Load() != 0 {
		t.Fatalf("err = %v, hits = %d", err, hits.Load())
	}
}

func TestClient_NodeAllowRestrictsGrants(t *testing.T) {
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	b := setup(t, Config{Allow: []string{"api.example.com"}})
	_, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "--outbound-allow") || hits.Load() != 0 {
		t.Fatalf("err = %v, hits = %d", err, hits.Load())
	}
}

func TestClient_ResponseBodyOverCapFails(t *testing.T) {
	b := setup(t, Config{MaxBodyBytes: 1 << 10})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		io.WriteString(w, strings.Repeat("x", 1<<10+1))
	})
	grants := []string{hostPort(t, srv)}
	for _, path := range []string{"/sized", "/chunked"} {
		_, err := b.client.HTTPRequest(callCtx(grants, 5*time.Second), "fn", get(srv.URL+path))
		if err == nil || !strings.Contains(err.Error(), "over the limit of 1 KiB") {
			t.Fatalf("%s: err = %v", path, err)
		}
	}
	if b.seen.count("fn/too_large") != 2 {
		t.Fatalf("observer: %v", b.seen.n)
	}
}

func TestClient_RequestBodyOverCapFails(t *testing.T) {
	b := setup(t, Config{MaxBodyBytes: 1 << 10})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	_, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn",
		&protocol.HTTPRequest{Method: "POST", URL: srv.URL, Body: make([]byte, 1<<10+1)})
	if err == nil || !strings.Contains(err.Error(), "request body of 1025 bytes is over the limit of 1 KiB") || hits.Load() != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_RequestsPerInvocationAreCapped(t *testing.T) {
	b := setup(t, Config{MaxRequests: 3})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	ctx := callCtx([]string{hostPort(t, srv)}, 5*time.Second) // one invocation
	for i := range 3 {
		if _, err := b.client.HTTPRequest(ctx, "fn", get(srv.URL)); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err := b.client.HTTPRequest(ctx, "fn", get(srv.URL))
	if err == nil || err.Error() != "over the limit of 3 requests per invocation" || hits.Load() != 3 {
		t.Fatalf("err = %v, hits = %d", err, hits.Load())
	}
	// Another invocation starts from zero.
	if _, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn", get(srv.URL)); err != nil {
		t.Fatal(err)
	}
}

func TestClient_TimeoutIsBoundedByTheCallsRemainingTime(t *testing.T) {
	b := setup(t, Config{})
	release := make(chan struct{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	grants := []string{hostPort(t, srv)}
	// The function asks for 10 minutes; the call has 300ms left.
	req := &protocol.HTTPRequest{Method: "GET", URL: srv.URL, Timeout: 10 * time.Minute}
	ctx := callCtx(grants, 300*time.Millisecond)
	deadline := protocol.CallScopeFrom(ctx).Deadline
	_, err := b.client.HTTPRequest(ctx, "fn", req)
	if err == nil || !strings.Contains(err.Error(), "timed out after") {
		t.Fatalf("err = %v", err)
	}
	if time.Now().After(deadline) {
		t.Fatalf("the request outlived its call's deadline by %s", time.Since(deadline))
	}
	// The function's own shorter timeout is kept.
	req.Timeout = 100 * time.Millisecond
	_, err = b.client.HTTPRequest(callCtx(grants, 10*time.Second), "fn", req)
	if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Fatalf("err = %v", err)
	}
	// No time left at all.
	_, err = b.client.HTTPRequest(callCtx(grants, 10*time.Millisecond), "fn", req)
	if err == nil || !strings.Contains(err.Error(), "no time left") {
		t.Fatalf("err = %v", err)
	}
	if b.seen.count("fn/timeout") != 3 {
		t.Fatalf("observer: %v", b.seen.n)
	}
}

func TestClient_InFlightPerWorkerIsBounded(t *testing.T) {
	b := setup(t, Config{MaxInFlight: 1})
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	grants := []string{hostPort(t, srv)}
	first := make(chan error, 1)
	go func() {
		_, err := b.client.HTTPRequest(callCtx(grants, 10*time.Second), "fn", get(srv.URL))
		first <- err
	}()
	<-entered
	// Same worker (1), another call: it waits for the slot until its time
	// runs out.
	_, err := b.client.HTTPRequest(callCtx(grants, 300*time.Millisecond), "fn", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "waiting for this worker's other requests (at most 1 at once)") {
		t.Fatalf("err = %v", err)
	}
	// Another worker is not held up.
	other := protocol.WithCallScope(context.Background(), &protocol.CallScope{AllowNet: grants, Deadline: time.Now().Add(10 * time.Second), Worker: 2})
	second := make(chan error, 1)
	go func() {
		_, err := b.client.HTTPRequest(other, "fn", get(srv.URL))
		second <- err
	}()
	<-entered
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 2 {
		t.Fatalf("hits = %d", hits.Load())
	}
}

func TestClient_TLSIsAlwaysVerified(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }))
	defer srv.Close()
	grants := []string{hostPort(t, srv)}
	b := setup(t, Config{})
	_, err := b.client.HTTPRequest(callCtx(grants, 5*time.Second), "fn", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unknown authority was accepted: err = %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	b = setup(t, Config{RootCAs: pool})
	resp, err := b.client.HTTPRequest(callCtx(grants, 5*time.Second), "fn", get(srv.URL))
	if err != nil || string(resp.Body) != "tls" {
		t.Fatalf("resp = %v, err = %v", resp, err)
	}
}

func TestClient_RefusesBadURLsAndCallsOutsideAScope(t *testing.T) {
	b := setup(t, Config{})
	for _, u := range []string{"ftp://example.com/", "file:///etc/passwd", "/relative", "http://", "gopher://x"} {
		_, err := b.client.HTTPRequest(callCtx(nil, 5*time.Second), "fn", get(u))
		if err == nil {
			t.Errorf("%q was accepted", u)
		}
	}
	if _, err := b.client.HTTPRequest(context.Background(), "fn", get("http://example.com/")); err != errNoScope {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_ConnectionsAreNotSharedAcrossGrants(t *testing.T) {
	b := setup(t, Config{})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	grants := []string{hostPort(t, srv)}
	if _, err := b.client.HTTPRequest(callCtx(grants, 5*time.Second), "granted", get(srv.URL)); err != nil {
		t.Fatal(err)
	}
	// The granted function's connection is idle in its pool; a function
	// without the grant must not ride on it.
	_, err := b.client.HTTPRequest(callCtx(nil, 5*time.Second), "other", get(srv.URL))
	if err == nil || !strings.Contains(err.Error(), "loopback") || hits.Load() != 1 {
		t.Fatalf("err = %v, hits = %d", err, hits.Load())
	}
}

func TestClient_HeadOfALargeResourceIsNotTooLarge(t *testing.T) {
	b := setup(t, Config{MaxBodyBytes: 1 << 10})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		if r.Method != http.MethodHead {
			io.WriteString(w, strings.Repeat("x", 1000000))
		}
	})
	resp, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn",
		&protocol.HTTPRequest{Method: "HEAD", URL: srv.URL})
	if err != nil || resp.Status != http.StatusOK || resp.Headers["content-length"] != "1000000" {
		t.Fatalf("resp = %+v, err = %v", resp, err)
	}
}

func TestClient_HostHeaderNamesTheVirtualHostNotTheDestination(t *testing.T) {
	b := setup(t, Config{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) })
	resp, err := b.client.HTTPRequest(callCtx([]string{hostPort(t, srv)}, 5*time.Second), "fn",
		&protocol.HTTPRequest{Method: "GET", URL: srv.URL, Headers: map[string]string{"host": "api.example.com"}})
	if err != nil || string(resp.Body) != "api.example.com" {
		t.Fatalf("resp = %+v, err = %v", resp, err)
	}
	// The Host header does not move the connection: without the grant the
	// same request is refused.
	_, err = b.client.HTTPRequest(callCtx(nil, 5*time.Second), "fn",
		&protocol.HTTPRequest{Method: "GET", URL: srv.URL, Headers: map[string]string{"Host": "api.example.com"}})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v", err)
	}
}
