package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/picloud/picloud/store"
)

func TestSecretGrants_ValidatesSortsAndKeeps(t *testing.T) {
	list := func(s ...string) *[]string { return &s }
	cur := &store.Version{Secrets: []string{"A", "B"}}
	legacy := &store.Version{AllSecrets: true}
	for _, c := range []struct {
		name string
		req  *[]string
		cur  *store.Version
		want string
		bad  bool
	}{
		{name: "omitted on create grants none", want: ""},
		{name: "omitted on update keeps the current grants", cur: cur, want: "A,B"},
		{name: "omitted over a version from before grants grants none", cur: legacy, want: ""},
		{name: "empty grants none", req: list(), cur: cur, want: ""},
		{name: "sorted and deduplicated", req: list("Z", "A", "Z"), want: "A,Z"},
		{name: "bad name", req: list("no spaces"), bad: true},
		{name: "empty name", req: list(""), bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := secretGrants(c.req, c.cur)
			if c.bad {
				var e *Error
				if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || e.Field != "secrets" {
					t.Fatalf("err = %v, want a 422 on secrets", err)
				}
				return
			}
			if err != nil || got == nil || strings.Join(got, ",") != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestCheckGrantWidening_NeedsTheSecretsScopeForNewNames(t *testing.T) {
	as := func(scopes ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPut, "/api/v1/functions/f", nil)
		return r.WithContext(WithPrincipal(r.Context(), &Principal{Name: "t", Scopes: scopes}))
	}
	cur := &store.Version{Secrets: []string{"A", "B"}}
	legacy := &store.Version{AllSecrets: true}
	for _, c := range []struct {
		name   string
		r      *http.Request
		cur    *store.Version
		grants []string
		ok     bool
	}{
		{"deploy token keeps the grants", as(ScopeDeploy), cur, []string{"A", "B"}, true},
		{"deploy token narrows the grants", as(ScopeDeploy), cur, []string{"B"}, true},
		{"deploy token adds a secret", as(ScopeDeploy), cur, []string{"A", "C"}, false},
		{"deploy token grants on create", as(ScopeDeploy), nil, []string{"A"}, false},
		{"deploy token names secrets over a version from before grants", as(ScopeDeploy), legacy, []string{"A"}, false},
		{"deploy token grants none over a version from before grants", as(ScopeDeploy), legacy, nil, true},
		{"secrets token adds a secret", as(ScopeDeploy, ScopeSecrets), cur, []string{"C"}, true},
		{"admin adds a secret", as(ScopeAdmin), nil, []string{"C"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkGrantWidening(c.r, "f", c.cur, c.grants)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Code != CodeForbidden {
				t.Fatalf("err = %v, want a 403", err)
			}
		})
	}
}
