package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/picloud/picloud/store"
)

func TestSecretGrants_ValidatesAndSorts(t *testing.T) {
	list := func(s ...string) *[]string { return &s }
	for _, c := range []struct {
		name string
		req  *[]string
		want []string
		bad  bool
	}{
		{name: "omitted is nil (the store keeps the current grants)", want: nil},
		{name: "empty grants none", req: list(), want: []string{}},
		{name: "sorted and deduplicated", req: list("Z", "A", "Z"), want: []string{"A", "Z"}},
		{name: "bad name", req: list("no spaces"), bad: true},
		{name: "empty name", req: list(""), bad: true},
		{name: "too many", req: list(strings.Split(strings.Repeat("A,", MaxSecretGrants)+"B", ",")...), bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := secretGrants(c.req)
			if c.bad {
				var e *Error
				if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || e.Field != "secrets" {
					t.Fatalf("err = %v, want a 422 on secrets", err)
				}
				return
			}
			if err != nil || (got == nil) != (c.want == nil) || strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("got %#v, %v; want %#v", got, err, c.want)
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
