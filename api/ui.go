package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"
)

// The dashboard's assets: plain HTML, CSS and ES modules, no build step.
//
//go:embed ui
var uiFiles embed.FS

// UIOptions configure the dashboard handler.
type UIOptions struct {
	// Sessions keeps the sessions; nil means the API's Store.
	Sessions SessionStore
	// SessionTTL is a session's lifetime; default DefaultSessionTTL.
	SessionTTL time.Duration
	// TrustedProxies may say a request arrived over HTTPS with
	// X-Forwarded-Proto (Caddy in front); default loopback only.
	TrustedProxies []netip.Prefix
	// Invocations wakes the live tails (GET /ui/tail) when invocation
	// records are written; nil leaves the tail out (503).
	Invocations *InvocationFeed
}

// The dashboard's Content-Security-Policy: its own scripts, styles and
// connections only; never framed. JSON answers get a sandboxing one.
const (
	uiCSP  = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	apiCSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
)

// uiHandler serves the dashboard on its own listener: the embedded assets,
// sign-in and sign-out, the overview, and the control API (/api/v1/...)
// authenticated by the session cookie instead of a bearer token. It never
// serves /fn: no function answer runs on the dashboard's origin.
type uiHandler struct {
	api      *API
	sessions SessionStore
	ttl      time.Duration
	now      func() time.Time
	trusted  []netip.Prefix
	assets   map[string]*uiAsset
	feed     *InvocationFeed
}

// uiAsset is one embedded file with its gzipped form.
type uiAsset struct {
	body, gz []byte
	ctype    string
	etag     string
}

// UI returns the dashboard's handler. Serve it on its own listener
// (picloud serve --ui-listen), never on the data plane's.
func (a *API) UI(opts UIOptions) (http.Handler, error) {
	u := &uiHandler{api: a, sessions: opts.Sessions, ttl: opts.SessionTTL, now: a.now, trusted: opts.TrustedProxies, feed: opts.Invocations}
	if u.sessions == nil {
		if a.deps.Store == nil {
			return nil, errors.New("api: the dashboard needs a session store")
		}
		u.sessions = a.deps.Store
	}
	if u.ttl <= 0 {
		u.ttl = DefaultSessionTTL
	}
	if u.trusted == nil {
		u.trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	assets, err := loadUIAssets()
	if err != nil {
		return nil, err
	}
	u.assets = assets
	return u, nil
}

// UIAssetSizes returns each embedded asset's size and gzipped size in
// bytes, by path ("/", "/app.js"...): the dashboard's budget.
func UIAssetSizes() (map[string][2]int, error) {
	assets, err := loadUIAssets()
	if err != nil {
		return nil, err
	}
	out := make(map[string][2]int, len(assets))
	for p, a := range assets {
		out[p] = [2]int{len(a.body), len(a.gz)}
	}
	return out, nil
}

func loadUIAssets() (map[string]*uiAsset, error) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	assets := map[string]*uiAsset{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a := &uiAsset{body: body, gz: buf.Bytes(), ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		assets["/"+p] = a
		if p == "index.html" {
			assets["/"] = a
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	return assets, nil
}

func (u *uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	p := r.URL.Path
	switch {
	case p == "/api/v1" || strings.HasPrefix(p, "/api/v1/"):
		h.Set("Content-Security-Policy", apiCSP)
		u.control(w, r)
	case strings.HasPrefix(p, "/ui/"):
		h.Set("Content-Security-Policy", apiCSP)
		h.Set("Cache-Control", "no-store")
		if err := u.uiAPI(w, r); err != nil {
			u.api.writeErr(w, r, err)
		}
	case p == "/healthz" || p == "/readyz":
		u.api.ServeHTTP(w, r)
	default:
		h.Set("Content-Security-Policy", uiCSP)
		u.static(w, r)
	}
}

// control serves /api/v1/... for a signed-in session: the origin is
// checked on every state change, the cookie and any Authorization header
// are removed (nothing below, a function least of all, sees them), and the
// API's routes check the session's scopes as they would a token's.
func (u *uiHandler) control(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !u.sameOrigin(r) {
		WriteError(w, errorf(http.StatusForbidden, CodeForbidden, "cross-origin request refused"))
		return
	}
	p, _, err := u.session(r)
	if err != nil {
		u.api.writeErr(w, r, err)
		return
	}
	setBlobDownload(w.Header(), r)
	r2 := r.WithContext(withSession(r.Context(), p))
	r2.Header = r.Header.Clone()
	r2.Header.Del("Cookie")
	r2.Header.Del("Authorization")
	u.api.ServeHTTP(w, r2)
}

// uiAPI serves the dashboard's own routes: /ui/session (GET who am I, POST
// sign in, DELETE sign out), /ui/overview, /ui/schedule-preview, and the
// read-scoped /ui/stats, /ui/schedule-runs and /ui/tail.
func (u *uiHandler) uiAPI(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !u.sameOrigin(r) {
		return errorf(http.StatusForbidden, CodeForbidden, "cross-origin request refused")
	}
	switch r.URL.Path {
	case "/ui/session":
		switch r.Method {
		case http.MethodGet:
			return u.whoAmI(w, r)
		case http.MethodPost:
			return u.signIn(w, r)
		case http.MethodDelete:
			return u.signOut(w, r)
		}
		w.Header().Set("Allow", "GET, POST, DELETE")
		return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed on /ui/session", truncate(r.Method, 20))
	case "/ui/schedule-preview":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed on /ui/schedule-preview", truncate(r.Method, 20))
		}
		if _, _, err := u.session(r); err != nil {
			return err
		}
		return u.schedulePreview(w, r)
	case "/ui/overview":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed on /ui/overview", truncate(r.Method, 20))
		}
		p, _, err := u.session(r)
		if err != nil {
			return err
		}
		if !p.Has(ScopeRead) {
			return errorf(http.StatusForbidden, CodeForbidden, "token %s lacks the %s scope", p.Name, ScopeRead)
		}
		return u.overview(w, r)
	case "/ui/stats", "/ui/schedule-runs", "/ui/tail":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed on %s", truncate(r.Method, 20), r.URL.Path)
		}
		p, _, err := u.session(r)
		if err != nil {
			return err
		}
		if !p.Has(ScopeRead) {
			return errorf(http.StatusForbidden, CodeForbidden, "token %s lacks the %s scope", p.Name, ScopeRead)
		}
		switch r.URL.Path {
		case "/ui/stats":
			return u.stats(w, r)
		case "/ui/schedule-runs":
			return u.scheduleRuns(w, r)
		}
		return u.tail(w, r, p)
	}
	return errorf(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, truncate(r.URL.Path, 200))
}

// static serves an embedded asset, gzipped when the client takes it.
func (u *uiHandler) static(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed here", truncate(r.Method, 20)))
		return
	}
	a := u.assets[r.URL.Path]
	if a == nil {
		WriteError(w, errorf(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, truncate(r.URL.Path, 200)))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
