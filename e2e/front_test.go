package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The HTTP front of a function (deploy --cors-origin, --rate, --burst,
// --rate-per-ip, --env) through the real server, PostgreSQL and workers.

// counterSource counts its calls in kv and answers the count; on /own it
// sets its own Access-Control-Allow-Origin.
const counterSource = `function handle(req)
  local n = kv.incr("calls")
  if req.path == "/own" then
    return {status = 200, headers = {["Access-Control-Allow-Origin"] = "https://own.example"}, body = tostring(n)}
  end
  return tostring(n)
end`

// invocationCount is the number of invocation records of function, read
// from the database once the record of the call lastID is stored (the
// writer stores them in order).
func (hh *harness) invocationCount(t *testing.T, function, lastID string) int {
	t.Helper()
	hh.WaitInvocation(t, lastID)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, hh.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT /* picloud_e2e_probe */ count(*) FROM invocations WHERE function = $1`, function).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// metricValue is the value of the sample named series in a /metrics text,
// -1 if absent.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

func TestFront_CORSPreflightAnsweredWithoutRunningTheFunction(t *testing.T) {
	hh := need(t)
	hh.Deploy(t, map[string]any{"name": "cors-fn", "source": counterSource,
		"cors_origins": []string{"https://App.Example.com"}})
	const app = "https://app.example.com"

	pre := hh.Do(t, req{Method: "OPTIONS", Path: "/fn/cors-fn/items", Header: map[string]string{
		"Origin": app, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type, x-custom"}})
	if pre.Status != http.StatusNoContent {
		t.Fatalf("preflight: %d %s", pre.Status, pre.Body)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  app,
		"Access-Control-Allow-Headers": "content-type, x-custom",
		"Access-Control-Max-Age":       "600",
	} {
		if got := pre.Header.Get(k); got != want {
			t.Errorf("preflight %s = %q, want %q", k, got, want)
		}
	}
	if m := pre.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "PUT") {
		t.Errorf("preflight Allow-Methods %q lacks PUT", m)
	}
	if v := strings.Join(pre.Header.Values("Vary"), ","); !strings.Contains(v, "Origin") {
		t.Errorf("preflight Vary %q lacks Origin", v)
	}
	if id := pre.Header.Get("X-PiCloud-Invocation-Id"); id != "" {
		t.Errorf("preflight has an invocation id %s: it ran the function", id)
	}

	evil := hh.Do(t, req{Method: "OPTIONS", Path: "/fn/cors-fn", Header: map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}})
	if evil.Status != http.StatusForbidden || evil.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", evil.Status, evil.Header)
	}
	if msg, code := evil.ErrorBody(t); code != "origin_not_allowed" || !strings.Contains(msg, "--cors-origin") {
		t.Errorf("preflight from another origin: %s %q", code, msg)
	}

	// The first real call is the function's first run: no preflight ran it.
	got := hh.Do(t, req{Method: "GET", Path: "/fn/cors-fn", Header: map[string]string{"Origin": app}})
	if got.Status != 200 || string(got.Body) != "1" {
		t.Fatalf("first call after the preflights: %d %q (want 1: preflights must not run the function)", got.Status, got.Body)
	}
	if a := got.Header.Get("Access-Control-Allow-Origin"); a != app {
		t.Errorf("allowed origin's answer: Allow-Origin %q, want %q", a, app)
	}
	if e := got.Header.Get("Access-Control-Expose-Headers"); e != "X-PiCloud-Invocation-Id" {
		t.Errorf("Expose-Headers %q", e)
	}

	other := hh.Do(t, req{Method: "GET", Path: "/fn/cors-fn", Header: map[string]string{"Origin": "https://evil.example"}})
	if other.Status != 200 || other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin's answer: %d Allow-Origin %q, want none", other.Status, other.Header.Get("Access-Control-Allow-Origin"))
	}

	own := hh.Do(t, req{Method: "GET", Path: "/fn/cors-fn/own", Header: map[string]string{"Origin": app}})
	if a := own.Header.Get("Access-Control-Allow-Origin"); a != "https://own.example" {
		t.Errorf("the function's own Allow-Origin lost: %q", a)
	}
	if v := strings.Join(own.Header.Values("Vary"), ","); !strings.Contains(v, "Origin") {
		t.Errorf("Vary %q lacks Origin", v)
	}
	if n := hh.invocationCount(t, "cors-fn", own.Header.Get("X-PiCloud-Invocation-Id")); n != 3 {
		t.Errorf("%d invocations recorded, want 3 (the preflights are none)", n)
	}
}

func TestFront_CORSAnyOriginAndNoConfigLeavesOPTIONSToTheFunction(t *testing.T) {
	hh := need(t)
	hh.Deploy(t, map[string]any{"name": "cors-any", "source": counterSource, "cors_origins": []string{"*"}})
	pre := hh.Do(t, req{Method: "OPTIONS", Path: "/fn/cors-any", Header: map[string]string{
		"Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"}})
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight with *: %d %v", pre.Status, pre.Header)
	}
	hh.Deploy(t, map[string]any{"name": "cors-none", "source": counterSource})
	r := hh.Do(t, req{Method: "OPTIONS", Path: "/fn/cors-none", Header: map[string]string{
		"Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"}})
	if r.Status != 200 || string(r.Body) != "1" || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("OPTIONS of a function without CORS: %d %q %v (want the function's answer)", r.Status, r.Body, r.Header)
	}
}

func TestFront_CORSPreflightOfAPrivateFunctionNeedsNoToken(t *testing.T) {
	hh := need(t)
	const app = "https://app.example.com"
	hh.Deploy(t, map[string]any{"name": "cors-private", "source": counterSource, "private": true, "cors_origins": []string{app}})
	pre := hh.Do(t, req{Method: "OPTIONS", Path: "/fn/cors-private", Header: map[string]string{
		"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}})
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Headers") != "authorization" {
		t.Fatalf("preflight of a private function: %d %v", pre.Status, pre.Header)
	}
	// The call itself needs the token; its 401 is readable by the page.
	r := hh.Do(t, req{Method: "POST", Path: "/fn/cors-private", Header: map[string]string{"Origin": app}})
	if r.Status != 401 || r.Header.Get("Access-Control-Allow-Origin") != app {
		t.Fatalf("call without a token: %d Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	r = hh.Do(t, req{Method: "POST", Path: "/fn/cors-private", Token: hh.Admin, Header: map[string]string{"Origin": app}})
	if r.Status != 200 || string(r.Body) != "1" {
		t.Fatalf("call with a token: %d %q", r.Status, r.Body)
	}
}

func TestFront_RateLimitAnswers429BeforeAnyWorker(t *testing.T) {
	hh := need(t)
	// 1/h: no token comes back during the test.
	hh.Deploy(t, map[string]any{"name": "rate-fn", "source": counterSource, "rate": "1/h", "burst": 3, "allow_async": true})
	var last string
	for i := 1; i <= 3; i++ {
		r := hh.Do(t, req{Method: "GET", Path: "/fn/rate-fn"})
		if r.Status != 200 || string(r.Body) != strconv.Itoa(i) {
			t.Fatalf("call %d within the burst: %d %q", i, r.Status, r.Body)
		}
		last = r.Header.Get("X-PiCloud-Invocation-Id")
	}
	for i := 0; i < 5; i++ {
		var hdr map[string]string
		if i == 0 { // an async call is refused the same way, before it is queued
			hdr = map[string]string{"X-PiCloud-Async": "1"}
		}
		r := hh.Do(t, req{Method: "POST", Path: "/fn/rate-fn", Body: "x", Header: hdr})
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("call over the burst: %d %s", r.Status, r.Body)
		}
		msg, code := r.ErrorBody(t)
		if code != "rate_limited" || !strings.Contains(msg, "1/h") {
			t.Errorf("429 body: %s %q", code, msg)
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
			t.Errorf("Retry-After %q, want 1..3600 seconds", r.Header.Get("Retry-After"))
		}
		if id := r.Header.Get("X-PiCloud-Invocation-Id"); id != "" {
			t.Errorf("refused call has invocation id %s", id)
		}
	}
	if n := hh.invocationCount(t, "rate-fn", last); n != 3 {
		t.Errorf("%d invocations recorded, want 3: refused calls are neither recorded nor queued", n)
	}

	// A new version with a larger burst takes effect at once.
	r := hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/rate-fn", Token: hh.Admin,
		Body: map[string]any{"source": counterSource, "burst": 1}})
	if r.Status != 200 {
		t.Fatalf("deploy v2: %d %s", r.Status, r.Body)
	}
	var f struct {
		Rate  string `json:"rate"`
		Burst int    `json:"burst"`
	}
	r.JSON(t, &f)
	if f.Rate != "1/h" || f.Burst != 1 {
		t.Errorf("v2 front %+v: the rate must be kept and the burst changed", f)
	}
	if r := hh.Do(t, req{Method: "GET", Path: "/fn/rate-fn"}); r.Status != 200 || string(r.Body) != "4" {
		t.Fatalf("first call of v2: %d %q (a new version gets its own bucket)", r.Status, r.Body)
	}
	if r := hh.Do(t, req{Method: "GET", Path: "/fn/rate-fn"}); r.Status != 429 {
		t.Fatalf("second call of v2 with burst 1: %d", r.Status)
	}
	m := hh.Do(t, req{Method: "GET", Path: "/metrics", Token: hh.Admin})
	if n := metricValue(string(m.Body), `picloud_fn_refused_total{reason="rate_limited"}`); n < 6 {
		t.Errorf("/metrics counts %v rate-limited calls, want at least the 6 of this test", n)
	}
	// Removing the limit.
	r = hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/rate-fn", Token: hh.Admin,
		Body: map[string]any{"source": counterSource, "rate": "off"}})
	if r.Status != 200 {
		t.Fatalf("deploy v3: %d %s", r.Status, r.Body)
	}
	for range 3 {
		if r := hh.Do(t, req{Method: "GET", Path: "/fn/rate-fn"}); r.Status != 200 {
			t.Fatalf("call without a limit: %d %s", r.Status, r.Body)
		}
	}
}

func TestFront_RatePerIPSeparatesClientsBehindATrustedProxy(t *testing.T) {
	hh := need(t)
	hh.Deploy(t, map[string]any{"name": "rate-ip", "source": counterSource, "rate": "1/h", "burst": 1, "rate_per_ip": true})
	call := func(ip string) int {
		return hh.Do(t, req{Method: "GET", Path: "/fn/rate-ip", Header: map[string]string{"X-Forwarded-For": ip}}).Status
	}
	// The test connects from 127.0.0.1, a trusted proxy by default.
	if s := call("198.51.100.1"); s != 200 {
		t.Fatalf("first client's first call: %d", s)
	}
	if s := call("198.51.100.1"); s != 429 {
		t.Fatalf("first client's second call: %d, want 429", s)
	}
	if s := call("198.51.100.2"); s != 200 {
		t.Fatalf("second client's first call: %d, want its own bucket", s)
	}
	// A client cannot escape its bucket by prepending addresses: the
	// rightmost untrusted one counts.
	if s := call("203.0.113.9, 198.51.100.2"); s != 429 {
		t.Fatalf("second client with a forged prefix: %d, want 429", s)
	}
}

func TestFront_EnvVisibleInLuaChangedByDeployRestoredByRollback(t *testing.T) {
	hh := need(t)
	src := `function handle(req) return (env.MODE or "nil") .. "|" .. (env.API_URL or "nil") end`
	hh.Deploy(t, map[string]any{"name": "env-fn", "source": src,
		"env": map[string]string{"MODE": "one", "API_URL": "https://api.example.com/v1?a=b,c"}})
	get := func() string {
		r := hh.Do(t, req{Method: "GET", Path: "/fn/env-fn"})
		if r.Status != 200 {
			t.Fatalf("call: %d %s", r.Status, r.Body)
		}
		return string(r.Body)
	}
	if got := get(); got != "one|https://api.example.com/v1?a=b,c" {
		t.Fatalf("v1 env: %q", got)
	}
	r := hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/env-fn", Token: hh.Admin,
		Body: map[string]any{"source": src, "env": map[string]string{"MODE": "two"}}})
	if r.Status != 200 {
		t.Fatalf("deploy v2: %d %s", r.Status, r.Body)
	}
	if got := get(); got != "two|nil" {
		t.Fatalf("v2 env: %q", got)
	}
	// Omitted env keeps the current version's.
	r = hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/env-fn", Token: hh.Admin, Body: map[string]any{"source": src + "\n"}})
	if r.Status != 200 {
		t.Fatalf("deploy v3: %d %s", r.Status, r.Body)
	}
	if got := get(); got != "two|nil" {
		t.Fatalf("v3 env (omitted, kept): %q", got)
	}
	r = hh.Do(t, req{Method: "POST", Path: "/api/v1/functions/env-fn/rollback", Token: hh.Admin, Body: map[string]any{"version": 1}})
	if r.Status != 200 {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	if got := get(); got != "one|https://api.example.com/v1?a=b,c" {
		t.Fatalf("env after rollback to v1: %q", got)
	}
	var vl struct {
		Versions []struct {
			Version int               `json:"version"`
			Env     map[string]string `json:"env"`
		} `json:"versions"`
	}
	hh.Do(t, req{Method: "GET", Path: "/api/v1/functions/env-fn/versions", Token: hh.Admin}).JSON(t, &vl)
	if len(vl.Versions) != 3 || vl.Versions[1].Env["MODE"] != "two" || vl.Versions[2].Env["MODE"] != "one" {
		t.Fatalf("versions view: %+v", vl.Versions)
	}
}

func TestFront_BadValuesAnswer400WithTheField(t *testing.T) {
	hh := need(t)
	cases := []struct {
		name  string
		body  map[string]any
		field string
		says  string
	}{
		{"origin_with_path", map[string]any{"cors_origins": []string{"https://app.example.com/"}}, "cors_origins", "trailing /"},
		{"origin_without_scheme", map[string]any{"cors_origins": []string{"app.example.com"}}, "cors_origins", "scheme://host"},
		{"star_with_others", map[string]any{"cors_origins": []string{"*", "https://a.example"}}, "cors_origins", "alone"},
		{"rate_without_unit", map[string]any{"rate": "20"}, "rate", "N/s"},
		{"rate_bad_unit", map[string]any{"rate": "20/d"}, "rate", "/s, /m or /h"},
		{"burst_without_rate", map[string]any{"burst": 5}, "burst", "needs a rate"},
		{"burst_zero", map[string]any{"rate": "5/s", "burst": 0}, "burst", "out of range"},
		{"per_ip_without_rate", map[string]any{"rate_per_ip": true}, "rate_per_ip", "needs a rate"},
		{"env_bad_key", map[string]any{"env": map[string]string{"1X": "v"}}, "env", "invalid"},
		{"env_too_big", map[string]any{"env": map[string]string{"BIG": strings.Repeat("x", 17<<10)}}, "env", "over the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"name": "front-bad", "source": "function handle() end"}
			for k, v := range c.body {
				body[k] = v
			}
			r := hh.Do(t, req{Method: "POST", Path: "/api/v1/functions", Token: hh.Admin, Body: body})
			if r.Status != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", r.Status, r.Body)
			}
			var eb struct{ Error, Code, Field string }
			r.JSON(t, &eb)
			if eb.Field != c.field || !strings.Contains(eb.Error, c.says) {
				t.Fatalf("field %q message %q; want field %q and a message saying %q", eb.Field, eb.Error, c.field, c.says)
			}
		})
	}
	if r := hh.Do(t, req{Method: "GET", Path: "/api/v1/functions/front-bad", Token: hh.Admin}); r.Status != 404 {
		t.Fatalf("a rejected deploy created the function: %d", r.Status)
	}
}
