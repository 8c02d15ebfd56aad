package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/picloud/picloud/store"
)

// TokenPrefix starts every token secret.
const TokenPrefix = "pc_"

// tokenEncoding writes secrets as lowercase base32 without padding.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTokenSecret returns a fresh secret: "pc_" + 32 random bytes in
// lowercase base32 (52 characters), and the sha256 the store keeps.
func NewTokenSecret() (secret string, hash [32]byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", hash, err
	}
	secret = TokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b[:]))
	return secret, HashToken(secret), nil
}

// HashToken is the sha256 of a secret, as stored and looked up.
func HashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Principal is the token a request was authenticated with.
type Principal struct {
	// TokenID is the token's id (event streams are bound to it).
	TokenID int64
	Name    string
	Scopes  []string
}

// Has reports whether p carries scope (admin carries every scope).
func (p *Principal) Has(scope string) bool {
	return p != nil && (slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, scope))
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, as the API's middleware passes it
// to a route's handler; for handlers that authenticate themselves (with
// Authenticate) so that PrincipalFrom works below them.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the token that authenticated the request of ctx,
// or nil on a public route.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Authenticate checks the bearer token of r and that it carries scope, as
// the routes registered with a scope do; for handlers that decide about
// auth themselves (a ticket or a token). The error is an *Error: write it
// with WriteError (401 with WWW-Authenticate, or 403 naming the scope).
func (a *API) Authenticate(r *http.Request, scope string) (*Principal, error) {
	return a.authenticate(r, scope)
}

// authenticate checks the bearer token of r (or the dashboard session the
// UI handler put in its context) and that it carries scope.
func (a *API) authenticate(r *http.Request, scope string) (*Principal, error) {
	if p := sessionPrincipal(r.Context()); p != nil {
		// A dashboard session, checked by the UI handler: its token's scopes.
		if !p.Has(scope) {
			return nil, &Error{Status: http.StatusForbidden, Code: CodeForbidden,
				Message: "token " + p.Name + " lacks the " + scope + " scope"}
		}
		return p, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "missing bearer token: send Authorization: Bearer <token>"}
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "malformed Authorization header: want Bearer <token>"}
	}
	hash := HashToken(secret)
	t, err := a.deps.Tokens.Get(r.Context(), hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "invalid or revoked token"}
	}
	if err != nil {
		return nil, internalError(fmt.Errorf("look up token: %w", err))
	}
	p := &Principal{TokenID: t.ID, Name: t.Name, Scopes: t.Scopes}
	if !p.Has(scope) {
		return nil, &Error{Status: http.StatusForbidden, Code: CodeForbidden,
			Message: "token " + p.Name + " lacks the " + scope + " scope"}
	}
	return p, nil
}
