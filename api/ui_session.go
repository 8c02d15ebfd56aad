package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/picloud/picloud/store"
)

// SessionCookie is the dashboard's session cookie. The data plane never
// passes it to a function (cookies are shared by every port of a host).
const SessionCookie = "picloud_session"

// DefaultSessionTTL is how long a dashboard session lives.
const DefaultSessionTTL = 12 * time.Hour

// SessionStore is what the dashboard needs to keep its sessions
// (*store.Store): hashes only, never the session id or the token secret.
type SessionStore interface {
	CreateSession(ctx context.Context, tokenHash, sessionHash []byte, expiresAt time.Time) (*store.Session, error)
	SessionByHash(ctx context.Context, sessionHash []byte) (*store.Session, error)
	DeleteSession(ctx context.Context, sessionHash []byte) error
}

type sessionKey struct{}

// withSession marks ctx as authenticated by a dashboard session acting as p:
// authenticate then checks p's scopes instead of a bearer token. Only the
// UI handler sets it, after checking the cookie and the origin.
func withSession(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, sessionKey{}, p)
}

// sessionPrincipal returns the session principal of ctx, or nil.
func sessionPrincipal(ctx context.Context) *Principal {
	p, _ := ctx.Value(sessionKey{}).(*Principal)
	return p
}

// newSessionID returns a fresh session id (32 random bytes, base64url)
// and the sha256 the store keeps.
func newSessionID() (string, [32]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, fmt.Errorf("generate session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	return id, sha256.Sum256([]byte(id)), nil
}

// stripSessionCookie removes the dashboard's cookie from r's Cookie
// headers, keeping the others (a function may use its own cookies).
func stripSessionCookie(r *http.Request) {
	vs := r.Header.Values("Cookie")
	if len(vs) == 0 || !strings.Contains(strings.Join(vs, ";"), SessionCookie) {
		return
	}
	var keep []string
	for _, c := range r.Cookies() {
		if c.Name != SessionCookie {
			keep = append(keep, c.Name+"="+c.Value)
		}
	}
	r.Header.Del("Cookie")
	if len(keep) > 0 {
		r.Header.Set("Cookie", strings.Join(keep, "; "))
	}
}

// secureRequest says whether r arrived over HTTPS: TLS here, or
// X-Forwarded-Proto: https from a trusted proxy.
func (u *uiHandler) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range u.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// sameOrigin says whether a state-changing request comes from the
// dashboard's own origin: its Origin header must be this listener's
// scheme://host. A page of another origin (a function's answer on the data
// plane's port included) fails it; SameSite=Strict does not help there,
// since every port of a host is the same site.
func (u *uiHandler) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	scheme := "http"
	if u.secureRequest(r) {
		scheme = "https"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

// session returns the principal of r's live session cookie: 401 without
// one, or when it expired, was signed out or its token was revoked.
func (u *uiHandler) session(r *http.Request) (*Principal, *store.Session, error) {
	cs := r.CookiesNamed(SessionCookie)
	if len(cs) != 1 || cs[0].Value == "" {
		// Two cookies of that name: one was planted by a page of another
		// port of this host (cookies ignore ports). Trust neither.
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "not signed in"}
	}
	c := cs[0]
	h := sha256.Sum256([]byte(c.Value))
	s, err := u.sessions.SessionByHash(r.Context(), h[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "session expired or signed out: sign in again"}
	}
	if err != nil {
		return nil, nil, internalError(fmt.Errorf("look up session: %w", err))
	}
	return &Principal{TokenID: s.TokenID, Name: s.TokenName, Scopes: s.Scopes}, s, nil
}

// setCookie writes the session cookie (value "" clears it).
func (u *uiHandler) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   u.secureRequest(r),
		SameSite: http.SameSiteStrictMode,
	})
}

// SessionView is the body of GET and POST /ui/session.
type SessionView struct {
	Token     string    `json:"token"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SignInRequest is the body of POST /ui/session.
type SignInRequest struct {
	Token string `json:"token"`
}

func (u *uiHandler) signIn(w http.ResponseWriter, r *http.Request) error {
	var req SignInRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	secret := strings.TrimSpace(req.Token)
	if secret == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "token", Message: "token is missing"}
	}
	id, sh, err := newSessionID()
	if err != nil {
		return internalError(err)
	}
	th := HashToken(secret)
	s, err := u.sessions.CreateSession(r.Context(), th[:], sh[:], u.now().Add(u.ttl))
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid or revoked token"}
	}
	if err != nil {
		return internalError(fmt.Errorf("create session: %w", err))
	}
	u.setCookie(w, r, id, int(u.ttl/time.Second))
	writeJSON(w, http.StatusCreated, SessionView{Token: s.TokenName, Scopes: s.Scopes, ExpiresAt: s.ExpiresAt})
	return nil
}

func (u *uiHandler) whoAmI(w http.ResponseWriter, r *http.Request) error {
	_, s, err := u.session(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SessionView{Token: s.TokenName, Scopes: s.Scopes, ExpiresAt: s.ExpiresAt})
	return nil
}

func (u *uiHandler) signOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		h := sha256.Sum256([]byte(c.Value))
		if err := u.sessions.DeleteSession(r.Context(), h[:]); err != nil {
			return internalError(fmt.Errorf("sign out: %w", err))
		}
	}
	u.setCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
