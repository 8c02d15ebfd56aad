package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServe_BadInputsGetTheirStatusAndAMessage(t *testing.T) {
	hh := need(t)
	adm := hh.admin
	hh.deploy(t, map[string]any{"name": "taken", "source": "function handle(req) return \"ok\" end"})
	ok := "function handle(req) return \"ok\" end"
	fn := func(extra map[string]any) map[string]any {
		m := map[string]any{"name": "bad-input", "source": ok}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	big := strings.Repeat("x", 6<<20+1)
	cases := []struct {
		name   string
		req    req
		status int
		code   string
	}{
		{"oversize body", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: `{"name":"x","source":"` + big + `"}`}, 413, "body_too_large"},
		{"oversize body to a function", req{Method: "POST", Path: "/fn/taken", Body: big}, 413, "body_too_large"},
		{"uppercase name", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"name": "Hello"})}, 400, "invalid_name"},
		{"name starting with a digit", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"name": "1abc"})}, 400, "invalid_name"},
		{"name too long", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"name": strings.Repeat("a", 64)})}, 400, "invalid_name"},
		{"name with a slash", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"name": "a/b"})}, 400, "invalid_name"},
		{"missing name", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: map[string]any{"source": ok}}, 400, "invalid_name"},
		{"invalid UTF-8 in a JSON name", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: "{\"name\":\"ab\xff\xfe\",\"source\":\"x\"}"}, 400, "invalid_name"},
		{"invalid UTF-8 in a path name", req{Method: "GET", Path: "/api/v1/functions/ab%FF", Token: adm}, 400, "invalid_name"},
		{"invalid UTF-8 in a /fn name", req{Method: "GET", Path: "/fn/%C3%28"}, 400, "invalid_name"},
		{"truncated JSON", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: `{"name": "x", "source":`}, 400, "bad_json"},
		{"JSON syntax error", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: "{\n\"name\" \"x\"}"}, 400, "bad_json"},
		{"JSON array instead of object", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: `[1,2]`}, 400, "bad_json"},
		{"wrong JSON type", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: `{"name":"x","source":5}`}, 400, "bad_json"},
		{"unknown field", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"memroy": "64MiB"})}, 400, "unknown_field"},
		{"trailing data", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: `{"name":"x","source":"y"} {}`}, 400, "bad_json"},
		{"empty body", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: ""}, 400, "bad_json"},
		{"memory too small", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"memory": "1MiB"})}, 422, "invalid_limit"},
		{"memory too large", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"memory": "3GiB"})}, 422, "invalid_limit"},
		{"memory unit unknown", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"memory": "64XB"})}, 422, "invalid_limit"},
		{"cpu out of range", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"cpu": 1000})}, 422, "invalid_limit"},
		{"cpu too small", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"cpu": 0.001})}, 422, "invalid_limit"},
		{"timeout too short", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"timeout": "1ms"})}, 422, "invalid_limit"},
		{"timeout too long", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"timeout": "1h"})}, 422, "invalid_limit"},
		{"timeout unparseable", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"timeout": "soon"})}, 422, "invalid_limit"},
		{"concurrency zero", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"concurrency": 0})}, 422, "invalid_limit"},
		{"max_workers too many", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"max_workers": 1000})}, 422, "invalid_limit"},
		{"min_warm above the node cap", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"min_warm": 20, "max_workers": 20})}, 422, "invalid_limit"},
		{"min_warm above max_workers", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"min_warm": 3, "max_workers": 2})}, 422, "invalid_limit"},
		{"max_attempts zero", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"max_attempts": 0})}, 422, "invalid_limit"},
		{"Lua syntax error", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"source": "function handle(req)\n  return 1 +\nend\n"})}, 422, "syntax_error"},
		{"empty source", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"source": ""})}, 422, "invalid_value"},
		{"source and source_base64 both", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"source_base64": "eA=="})}, 400, "invalid_value"},
		{"source_base64 not base64", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: map[string]any{"name": "bad-input", "source_base64": "%%%"}}, 400, "bad_json"},
		{"empty source_base64", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: map[string]any{"name": "bad-input", "source_base64": ""}}, 422, "invalid_value"},
		{"invoke API with an unknown method", req{Method: "POST", Path: "/api/v1/functions/taken/invoke?method=BREW", Token: adm}, 400, "invalid_value"},
		{"invoke API with a relative path", req{Method: "POST", Path: "/api/v1/functions/taken/invoke?path=orders", Token: adm}, 400, "invalid_value"},
		{"name taken", req{Method: "POST", Path: "/api/v1/functions", Token: adm, Body: fn(map[string]any{"name": "taken"})}, 409, "conflict"},
		{"name differs from the path", req{Method: "PUT", Path: "/api/v1/functions/taken", Token: adm, Body: fn(map[string]any{"name": "other"})}, 400, "invalid_name"},
		{"update of an unknown function", req{Method: "PUT", Path: "/api/v1/functions/nope", Token: adm, Body: map[string]any{"source": ok}}, 404, "not_found"},
		{"unknown function", req{Method: "GET", Path: "/fn/nope"}, 404, "not_found"},
		{"unknown function in the API", req{Method: "GET", Path: "/api/v1/functions/nope", Token: adm}, 404, "not_found"},
		{"rollback to a missing version", req{Method: "POST", Path: "/api/v1/functions/taken/rollback", Token: adm, Body: map[string]any{"version": 99}}, 404, "not_found"},
		{"rollback with no older version", req{Method: "POST", Path: "/api/v1/functions/taken/rollback", Token: adm}, 404, "not_found"},
		{"rollback to a negative version", req{Method: "POST", Path: "/api/v1/functions/taken/rollback", Token: adm, Body: map[string]any{"version": -1}}, 422, "invalid_value"},
		{"unknown route", req{Method: "GET", Path: "/api/v1/nope", Token: adm}, 404, "not_found"},
		{"unknown top-level route", req{Method: "GET", Path: "/nope"}, 404, "not_found"},
		{"wrong method", req{Method: "PATCH", Path: "/api/v1/functions", Token: adm}, 405, "method_not_allowed"},
		{"wrong method on a function", req{Method: "PROPFIND", Path: "/fn/taken"}, 405, "method_not_allowed"},
		{"invocation page size zero", req{Method: "GET", Path: "/api/v1/invocations?limit=0", Token: adm}, 400, "bad_request"},
		{"unknown invocation status", req{Method: "GET", Path: "/api/v1/invocations?status=great", Token: adm}, 400, "bad_request"},
		{"bad invocation cursor", req{Method: "GET", Path: "/api/v1/invocations?cursor=zzz", Token: adm}, 400, "bad_request"},
		{"unknown invocation id", req{Method: "GET", Path: "/api/v1/invocations/not-a-uuid", Token: adm}, 404, "not_found"},
		{"token with an unknown scope", req{Method: "POST", Path: "/api/v1/tokens", Token: adm, Body: map[string]any{"name": "t-bad", "scopes": []string{"root"}}}, 422, "invalid_value"},
		{"token without scopes", req{Method: "POST", Path: "/api/v1/tokens", Token: adm, Body: map[string]any{"name": "t-bad"}}, 422, "invalid_value"},
		{"token with a bad name", req{Method: "POST", Path: "/api/v1/tokens", Token: adm, Body: map[string]any{"name": "Bad Name", "scopes": []string{"read"}}}, 400, "invalid_name"},
		{"token name taken", req{Method: "POST", Path: "/api/v1/tokens", Token: adm, Body: map[string]any{"name": "admin", "scopes": []string{"read"}}}, 409, "conflict"},
		{"deploy granting a bad secret name", req{Method: "PUT", Path: "/api/v1/functions/taken", Token: adm, Body: map[string]any{"source": ok, "secrets": []string{"no spaces"}}}, 422, "invalid_value"},
		{"deploy granting secrets as a string", req{Method: "PUT", Path: "/api/v1/functions/taken", Token: adm, Body: map[string]any{"source": ok, "secrets": "A,B"}}, 400, "bad_json"},
		{"bad secret name", req{Method: "PUT", Path: "/api/v1/secrets/no%20spaces", Token: adm, Body: map[string]any{"value": "v"}}, 400, "invalid_name"},
		{"malformed Authorization", req{Method: "GET", Path: "/api/v1/functions", Header: map[string]string{"Authorization": "Bearer"}}, 401, "unauthorized"},
	}
	if len(cases) < 25 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hh.do(t, c.req)
			msg, code := r.errorBody(t)
			if r.Status != c.status || code != c.code {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
			if len(msg) < 10 {
				t.Errorf("message %q says too little", msg)
			}
			hh.alive(t)
		})
	}
}

func TestServe_ErrorsSayWhere(t *testing.T) {
	hh := need(t)
	r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.admin, Body: "{\n  \"name\": \"x\",\n  \"source\" 1\n}"})
	var eb struct {
		Error        string
		Line, Column int
	}
	r.JSON(t, &eb)
	if r.Status != 400 || eb.Line != 3 || !strings.Contains(eb.Error, "line 3") {
		t.Errorf("bad JSON: %d %s, want line 3", r.Status, r.Body)
	}
	r = hh.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.admin,
		Body: map[string]any{"name": "where", "source": "function handle(req)\n  local x = = 1\nend\n"}})
	r.JSON(t, &eb)
	if r.Status != 422 || eb.Line != 2 || !strings.Contains(eb.Error, "line 2") {
		t.Errorf("syntax error: %d %s, want line 2", r.Status, r.Body)
	}
	r = hh.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.admin,
		Body: map[string]any{"name": "where", "source": "x", "cpu": 99}})
	var fe struct{ Field string }
	r.JSON(t, &fe)
	if r.Status != 422 || fe.Field != "cpu" {
		t.Errorf("limit: %d %s, want field cpu", r.Status, r.Body)
	}
}

// TestServe_HugeHeadersGet431 sends a header block larger than
// MaxHeaderBytes over a raw connection (net/http's client refuses to).
func TestServe_HugeHeadersGet431(t *testing.T) {
	hh := need(t)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(hh.base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	// Write in the background and read at once: the server answers and
	// closes before it has read everything we send.
	go func() {
		_, _ = fmt.Fprintf(conn, "GET /fn/taken HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 256<<10))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge headers: %d, want 431", resp.StatusCode)
	}
	hh.alive(t)
}
