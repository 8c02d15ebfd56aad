package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const helloV1 = `function handle(req)
  log.info("hello from v1")
  return "v1"
end
`

const helloV2 = `function handle(req)
  log.info("hello from v2")
  return { status = 201, headers = { ["x-answer"] = "two" }, body = "v2" }
end
`

func TestServe_DeployCallLogsRedeployRollbackRemove(t *testing.T) {
	hh := need(t)
	adm := hh.Admin

	r := hh.Do(t, req{Method: "POST", Path: "/api/v1/functions", Token: adm,
		Body: map[string]any{"name": "life", "source": helloV1, "memory": "32MiB", "timeout": "5s"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var f struct {
		Name    string
		Version int
		URL     string
		Limits  struct{ Memory, Timeout string }
	}
	r.JSON(t, &f)
	if f.Version != 1 || f.URL != "/fn/life" || f.Limits.Memory != "32MiB" || f.Limits.Timeout != "5s" {
		t.Fatalf("created function = %+v", f)
	}

	// Call it.
	r = hh.Do(t, req{Method: "GET", Path: "/fn/life"})
	if r.Status != 200 || string(r.Body) != "v1" {
		t.Fatalf("call v1: %d %q", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("string answer Content-Type = %q, want text/plain", ct)
	}
	id := r.Header.Get("X-PiCloud-Invocation-Id")
	if id == "" {
		t.Fatal("no X-PiCloud-Invocation-Id header")
	}

	// Its logs.
	inv := hh.WaitInvocation(t, id)
	if inv["status"] != "succeeded" || inv["function"] != "life" || inv["version"] != float64(1) || inv["trigger"] != "http" {
		t.Fatalf("invocation = %v", inv)
	}
	if !strings.Contains(toJSON(t, inv["logs"]), "hello from v1") {
		t.Fatalf("invocation logs %v lack the log line", inv["logs"])
	}
	r = hh.Do(t, req{Method: "GET", Path: "/api/v1/invocations?function=life", Token: adm})
	if r.Status != 200 || !strings.Contains(string(r.Body), id) {
		t.Fatalf("list invocations: %d %s", r.Status, r.Body)
	}

	// Redeploy: a new version, limits kept.
	r = hh.Do(t, req{Method: "PUT", Path: "/api/v1/functions/life", Token: adm, Body: map[string]any{"source": helloV2}})
	if r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &f)
	if f.Version != 2 || f.Limits.Memory != "32MiB" {
		t.Fatalf("updated function = %+v", f)
	}
	r = hh.Do(t, req{Method: "POST", Path: "/fn/life/some/path?x=1"})
	if r.Status != 201 || string(r.Body) != "v2" || r.Header.Get("X-Answer") != "two" {
		t.Fatalf("call v2: %d %q %v", r.Status, r.Body, r.Header)
	}

	// Versions.
	r = hh.Do(t, req{Method: "GET", Path: "/api/v1/functions/life/versions", Token: adm})
	var vl struct {
		Versions []struct {
			Version   int
			Current   bool
			CreatedBy string `json:"created_by"`
		}
	}
	r.JSON(t, &vl)
	if len(vl.Versions) != 2 || vl.Versions[0].Version != 2 || !vl.Versions[0].Current || vl.Versions[1].Current || vl.Versions[0].CreatedBy != "admin" {
		t.Fatalf("versions = %+v", vl)
	}

	// Roll back to the previous version, then forward to 2 explicitly.
	r = hh.Do(t, req{Method: "POST", Path: "/api/v1/functions/life/rollback", Token: adm})
	if r.Status != 200 {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &f)
	if f.Version != 1 {
		t.Fatalf("after rollback version = %d", f.Version)
	}
	if r = hh.Do(t, req{Method: "GET", Path: "/fn/life"}); string(r.Body) != "v1" {
		t.Fatalf("call after rollback: %d %q", r.Status, r.Body)
	}
	r = hh.Do(t, req{Method: "POST", Path: "/api/v1/functions/life/rollback", Token: adm, Body: map[string]any{"version": 2}})
	if r.Status != 200 {
		t.Fatalf("rollback to 2: %d %s", r.Status, r.Body)
	}
	if r = hh.Do(t, req{Method: "GET", Path: "/fn/life"}); string(r.Body) != "v2" {
		t.Fatalf("call after rollback to 2: %d %q", r.Status, r.Body)
	}

	// Invoke through the control plane.
	r = hh.Do(t, req{Method: "POST", Path: "/api/v1/functions/life/invoke", Token: adm, Body: "payload"})
	if r.Status != 201 || string(r.Body) != "v2" || r.Header.Get("X-PiCloud-Invocation-Id") == "" {
		t.Fatalf("invoke: %d %q", r.Status, r.Body)
	}

	// Remove.
	if r = hh.Do(t, req{Method: "DELETE", Path: "/api/v1/functions/life", Token: adm}); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	r = hh.Do(t, req{Method: "GET", Path: "/fn/life"})
	if _, code := r.ErrorBody(t); r.Status != 404 || code != "not_found" {
		t.Fatalf("call after delete: %d %s", r.Status, r.Body)
	}
	if r = hh.Do(t, req{Method: "GET", Path: "/api/v1/functions/life", Token: adm}); r.Status != 404 {
		t.Fatalf("get after delete: %d %s", r.Status, r.Body)
	}
}

func TestServe_ScriptErrorIs500WithLineAndTracebackInLogs(t *testing.T) {
	hh := need(t)
	hh.Deploy(t, map[string]any{"name": "boom", "source": "function handle(req)\n  local x = nil\n  error(\"kaput\")\nend\n"})
	r := hh.Do(t, req{Method: "GET", Path: "/fn/boom"})
	msg, code := r.ErrorBody(t)
	if r.Status != 500 || code != "script_error" || !strings.Contains(msg, "kaput") || !strings.Contains(msg, "3") {
		t.Fatalf("script error: %d %s", r.Status, r.Body)
	}
	if strings.Contains(msg, "traceback") {
		t.Errorf("the caller sees the traceback: %q", msg)
	}
	inv := hh.WaitInvocation(t, r.Header.Get("X-PiCloud-Invocation-Id"))
	if inv["status"] != "failed" || !strings.Contains(inv["error"].(string), "kaput") {
		t.Fatalf("failed invocation = %v", inv)
	}
}

func TestServe_TimeoutIs504(t *testing.T) {
	hh := need(t)
	hh.Deploy(t, map[string]any{"name": "spin", "timeout": "300ms",
		"source": "function handle(req)\n  while true do end\nend\n"})
	r := hh.Do(t, req{Method: "GET", Path: "/fn/spin"})
	if _, code := r.ErrorBody(t); r.Status != 504 || code != "timeout" {
		t.Fatalf("timeout: %d %s", r.Status, r.Body)
	}
	hh.alive(t)
}

func TestServe_PrivateFunctionNeedsInvokeScope(t *testing.T) {
	hh := need(t)
	hh.Deploy(t, map[string]any{"name": "secretive", "private": true,
		"source": "function handle(req)\n  return { auth = req.headers[\"authorization\"] or \"none\" }\nend\n"})
	reader := hh.token(t, "priv-reader", "read")
	invoker := hh.token(t, "priv-invoker", "invoke")

	r := hh.Do(t, req{Method: "GET", Path: "/fn/secretive"})
	if _, code := r.ErrorBody(t); r.Status != 401 || code != "unauthorized" || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %s", r.Status, r.Body)
	}
	r = hh.Do(t, req{Method: "GET", Path: "/fn/secretive", Token: reader})
	if msg, code := r.ErrorBody(t); r.Status != 403 || code != "forbidden" || !strings.Contains(msg, "invoke") {
		t.Fatalf("read token: %d %s", r.Status, r.Body)
	}
	r = hh.Do(t, req{Method: "GET", Path: "/fn/secretive", Token: invoker})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"none"`) {
		t.Fatalf("invoke token: %d %s (the function must not see the PiCloud token)", r.Status, r.Body)
	}

	// A revoked token stops working as soon as the revocation's
	// notification reaches the token cache (milliseconds).
	if r = hh.Do(t, req{Method: "DELETE", Path: "/api/v1/tokens/priv-invoker", Token: hh.Admin}); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = hh.Do(t, req{Method: "GET", Path: "/fn/secretive", Token: invoker})
		if r.Status == 401 {
			break
		}
		if r.Status != 200 || time.Now().After(deadline) {
			t.Fatalf("revoked token: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe_AdminTokenFileIsPrivateAndNeverLogged(t *testing.T) {
	hh := need(t)
	st, err := os.Stat(filepath.Join(hh.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode = %v, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(hh.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", dst.Mode().Perm())
	}
	if !strings.HasPrefix(hh.Admin, "pc_") {
		t.Errorf("admin token %q... lacks the pc_ prefix", hh.Admin[:3])
	}
	if strings.Contains(hh.Logs(), hh.Admin) {
		t.Error("the admin token appears in the server log")
	}
}
