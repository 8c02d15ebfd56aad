package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// route is one control-plane route of the auth matrix. mk builds the
// request for the token called who (so writes use fresh names); ok is the
// status when the scope is there.
type route struct {
	scope string
	ok    int
	mk    func(who string) req
}

func TestServe_AuthMatrix(t *testing.T) {
	hh := need(t)
	hh.deploy(t, map[string]any{"name": "authm", "source": "function handle(req) return \"ok\" end"})
	hh.deploy(t, map[string]any{"name": "authm-private", "private": true, "source": "function handle(req) return \"ok\" end"})
	tokens := map[string]string{"admin": hh.admin}
	for _, s := range []string{"read", "deploy", "invoke", "publish", "secrets"} {
		tokens[s] = hh.token(t, "matrix-"+s, s)
	}
	src := "function handle(req) return \"ok\" end"
	routes := []route{
		{"read", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/functions"} }},
		{"deploy", 201, func(w string) req {
			return req{Method: "POST", Path: "/api/v1/functions", Body: map[string]any{"name": "authm-new-" + w, "source": src}}
		}},
		{"read", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/functions/authm"} }},
		{"deploy", 200, func(string) req {
			return req{Method: "PUT", Path: "/api/v1/functions/authm", Body: map[string]any{"source": src}}
		}},
		{"read", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/functions/authm/versions"} }},
		{"deploy", 200, func(string) req {
			return req{Method: "POST", Path: "/api/v1/functions/authm/rollback", Body: map[string]any{"version": 1}}
		}},
		{"invoke", 200, func(string) req { return req{Method: "POST", Path: "/api/v1/functions/authm/invoke", Body: "x"} }},
		{"deploy", 404, func(w string) req { return req{Method: "DELETE", Path: "/api/v1/functions/authm-none-" + w} }},
		{"read", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/invocations"} }},
		{"read", 404, func(string) req {
			return req{Method: "GET", Path: "/api/v1/invocations/00000000-0000-7000-8000-000000000000"}
		}},
		{"read", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/workers"} }},
		{"read", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/secrets"} }},
		{"secrets", 201, func(w string) req {
			return req{Method: "PUT", Path: "/api/v1/secrets/MATRIX_" + w, Body: map[string]any{"value": "v"}}
		}},
		{"secrets", 404, func(w string) req { return req{Method: "DELETE", Path: "/api/v1/secrets/NONE_" + w} }},
		{"admin", 200, func(string) req { return req{Method: "GET", Path: "/api/v1/tokens"} }},
		{"admin", 201, func(w string) req {
			return req{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"name": "made-by-" + w, "scopes": []string{"read"}}}
		}},
		{"admin", 404, func(w string) req { return req{Method: "DELETE", Path: "/api/v1/tokens/none-" + w} }},
		{"invoke", 200, func(string) req { return req{Method: "GET", Path: "/fn/authm-private"} }},
	}
	for _, rt := range routes {
		probe := rt.mk("probe")
		t.Run(fmt.Sprintf("%s %s", probe.Method, probe.Path), func(t *testing.T) {
			// No token, a malformed header, a token that does not exist.
			r := hh.do(t, rt.mk("anon"))
			if _, code := r.errorBody(t); r.Status != 401 || code != "unauthorized" || r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("no token: %d %s", r.Status, r.Body)
			}
			q := rt.mk("anon")
			q.Header = map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}
			if r := hh.do(t, q); r.Status != 401 {
				t.Errorf("basic auth: %d %s", r.Status, r.Body)
			}
			q = rt.mk("anon")
			q.Token = "pc_thisisnotatoken"
			if r := hh.do(t, q); r.Status != 401 {
				t.Errorf("bad token: %d %s", r.Status, r.Body)
			}
			for _, who := range []string{"admin", "read", "deploy", "invoke", "publish", "secrets"} {
				q := rt.mk(who)
				q.Token = tokens[who]
				r := hh.do(t, q)
				allowed := who == "admin" || who == rt.scope
				switch {
				case allowed && r.Status != rt.ok:
					t.Errorf("%s token: %d %s, want %d", who, r.Status, r.Body, rt.ok)
				case !allowed:
					msg, code := r.errorBody(t)
					if r.Status != 403 || code != "forbidden" {
						t.Errorf("%s token: %d %s, want 403", who, r.Status, r.Body)
					} else if want := rt.scope; !contains(msg, want) {
						t.Errorf("403 message %q does not name the scope %s", msg, want)
					}
				}
			}
		})
	}
	// Health endpoints and public functions need no token.
	for _, p := range []string{"/healthz", "/readyz", "/fn/authm"} {
		if r := hh.do(t, req{Method: "GET", Path: p}); r.Status != http.StatusOK {
			t.Errorf("GET %s without token: %d %s", p, r.Status, r.Body)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
