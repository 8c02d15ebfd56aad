package worker

import (
	"strings"
	"testing"
)

func TestEnv_ReadOnlyTableOfTheVersionConfig(t *testing.T) {
	spec := defaultSpec(`
local at_load = env.GREETING
function handle(req)
  local ok, err = pcall(function() env.GREETING = "changed" end)
  local ok2 = pcall(function() env.NEW = "x" end)
  local ok3 = pcall(setmetatable, env, {})
  return at_load .. "|" .. env.GREETING .. "|" .. tostring(env.MISSING) .. "|" .. tostring(ok) .. tostring(ok2) .. tostring(ok3) .. "|" .. tostring(err)
end`)
	spec.Env = map[string]string{"GREETING": "hello, world"}
	ts := newTestServer(t, spec)
	got := ts.body(nil)
	parts := strings.SplitN(got, "|", 5)
	if len(parts) != 5 || parts[0] != "hello, world" || parts[1] != "hello, world" || parts[2] != "nil" || parts[3] != "falsefalsefalse" {
		t.Fatalf("got %q", got)
	}
	if !strings.Contains(parts[4], "env is read-only") {
		t.Fatalf("assignment error %q does not say env is read-only", parts[4])
	}
}

func TestEnv_EmptyWithoutConfig(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`function handle(req) return type(env) .. tostring(env.ANY) end`))
	if got := ts.body(nil); got != "tablenil" {
		t.Fatalf("got %q, want tablenil", got)
	}
}
