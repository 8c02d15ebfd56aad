package api

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
)

func TestUI_SameOriginNeedsTheListenersOwnOrigin(t *testing.T) {
	u := &uiHandler{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	tests := []struct {
		name, remote, origin, proto string
		tls, want                   bool
	}{
		{name: "own origin", remote: "127.0.0.1:5000", origin: "http://dash.local:8081", want: true},
		{name: "data plane port", remote: "127.0.0.1:5000", origin: "http://dash.local:8080"},
		{name: "other host", remote: "127.0.0.1:5000", origin: "http://evil.example:8081"},
		{name: "no origin", remote: "127.0.0.1:5000"},
		{name: "null origin", remote: "127.0.0.1:5000", origin: "null"},
		{name: "https behind a trusted proxy", remote: "127.0.0.1:5000", origin: "https://dash.local:8081", proto: "https", want: true},
		{name: "http origin behind an https proxy", remote: "127.0.0.1:5000", origin: "http://dash.local:8081", proto: "https"},
		{name: "forwarded proto from an untrusted peer", remote: "10.0.0.9:5000", origin: "https://dash.local:8081", proto: "https"},
		{name: "direct TLS", remote: "10.0.0.9:5000", origin: "https://dash.local:8081", tls: true, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://dash.local:8081/api/v1/tokens", nil)
			r.RemoteAddr = tc.remote
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := u.sameOrigin(r); got != tc.want {
				t.Errorf("sameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStripSessionCookie_KeepsTheOthers(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/fn/x", nil)
	r.Header.Add("Cookie", "a=1; "+SessionCookie+"=secret")
	r.Header.Add("Cookie", "b=2")
	stripSessionCookie(r)
	got := strings.Join(r.Header.Values("Cookie"), "|")
	if strings.Contains(got, "secret") || got != "a=1; b=2" {
		t.Errorf("Cookie after strip = %q, want %q", got, "a=1; b=2")
	}
}

// Budgets of the dashboard (issue 10): the first page (index.html,
// app.css, app.js, and the realtime client the events page imports) at
// most 150 KB gzipped, everything at most 500 KB.
const (
	firstPageBudget = 150 << 10
	wholeBudget     = 500 << 10
)

func TestUIAssets_WithinBudget(t *testing.T) {
	sizes, err := UIAssetSizes()
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, 0, len(sizes))
	for p := range sizes {
		if p != "/" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var first, whole int
	for _, p := range paths {
		s := sizes[p]
		t.Logf("%-14s %6d bytes, %6d gzipped", p, s[0], s[1])
		whole += s[1]
		if p == "/index.html" || p == "/app.css" || p == "/app.js" || p == "/picloud-realtime.js" {
			first += s[1]
		}
	}
	t.Logf("first page %d bytes gzipped (budget %d), whole %d (budget %d)", first, firstPageBudget, whole, wholeBudget)
	if first > firstPageBudget || whole > wholeBudget {
		t.Errorf("over budget: first page %d > %d or whole %d > %d", first, firstPageBudget, whole, wholeBudget)
	}
}

func TestUIStatic_ServesGzipWithSecurityHeaders(t *testing.T) {
	a := &API{now: nil}
	assets, err := loadUIAssets()
	if err != nil {
		t.Fatal(err)
	}
	u := &uiHandler{api: a, assets: assets}
	r := httptest.NewRequest(http.MethodGet, "/app.js", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	u.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET /app.js: %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if !strings.Contains(string(body), "textContent") {
		t.Error("app.js does not decompress to the module")
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if w.Header().Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	for _, p := range []string{"/fn/hello", "/fn/hello/x"} {
		w := httptest.NewRecorder()
		u.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s on the dashboard's listener = %d, want 404 (functions never answer there)", p, w.Code)
		}
	}
}

func TestUIAssets_RealtimeClientMatchesItsSource(t *testing.T) {
	src, err := os.ReadFile("../clients/js/picloud-realtime.js")
	if err != nil {
		t.Fatal(err)
	}
	served, err := uiFiles.ReadFile("ui/picloud-realtime.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, served) {
		t.Fatal("api/ui/picloud-realtime.js differs from clients/js/picloud-realtime.js: run make ui")
	}
}

func TestUISessionCookie_SecureOnlyOverHTTPS(t *testing.T) {
	u := &uiHandler{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for _, tc := range []struct {
		name, remote, proto string
		want                bool
	}{
		{"plain http", "127.0.0.1:1", "", false},
		{"https from the local proxy", "127.0.0.1:1", "https", true},
		{"https claimed by a stranger", "192.0.2.1:1", "https", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://dash.local/ui/session", nil)
		r.RemoteAddr = tc.remote
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		w := httptest.NewRecorder()
		u.setCookie(w, r, "v", 60)
		c := w.Result().Cookies()
		if len(c) != 1 || c[0].Secure != tc.want || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
			t.Errorf("%s: cookie %+v, want Secure=%v, HttpOnly, SameSite=Strict", tc.name, c, tc.want)
		}
	}
}

// A page on another port of the host can set a cookie of the same name
// (cookies ignore ports): with two, neither is trusted.
func TestUISession_TwoSessionCookiesAreRefused(t *testing.T) {
	u := &uiHandler{}
	r := httptest.NewRequest(http.MethodGet, "/ui/session", nil)
	r.Header.Set("Cookie", SessionCookie+"=planted; "+SessionCookie+"=real")
	_, _, err := u.session(r)
	if e := asError(err); e.Status != http.StatusUnauthorized {
		t.Fatalf("two session cookies: %v, want 401", err)
	}
}
