package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
)

// escapeAttempt is one way a script might try to leave the sandbox or take
// the worker down. Every attempt must end in a CallError of the given kind
// (a Lua error or a clean limit error) with a message containing want,
// and the worker must answer the next call correctly.
type escapeAttempt struct {
	name string
	code string // body of handle(req)
	kind string
	want string
}

// escapeAttempts is the sandbox escape table (also run, in part, against a
// real worker subprocess).
var escapeAttempts = []escapeAttempt{
	{"io_open", `return io.open("/etc/passwd"):read("*a")`, protocol.KindScript, "attempt to index a non-table object(nil) with key 'open'"},
	{"io_popen", `return io.popen("id")`, protocol.KindScript, "attempt to index"},
	{"os_execute", `return os.execute("id")`, protocol.KindScript, "attempt to call a non-function object"},
	{"os_exit", `os.exit(3)`, protocol.KindScript, "attempt to call a non-function object"},
	{"os_getenv", `return os.getenv("PATH")`, protocol.KindScript, "attempt to call a non-function object"},
	{"os_remove", `return os.remove("/tmp/x")`, protocol.KindScript, "attempt to call a non-function object"},
	{"os_rename_tmpname", `return os.rename(os.tmpname(), "/tmp/y")`, protocol.KindScript, "attempt to call a non-function object"},
	{"require", `return require("os")`, protocol.KindScript, "attempt to call a non-function object"},
	{"module", `module("x")`, protocol.KindScript, "attempt to call a non-function object"},
	{"load", `return load(function() return nil end)`, protocol.KindScript, "attempt to call a non-function object"},
	{"loadstring", `return loadstring("return 1")()`, protocol.KindScript, "attempt to call a non-function object"},
	{"loadstring_bytecode", `return loadstring("\27Lua\81\0\1\4\8\4\8\0")()`, protocol.KindScript, "attempt to call a non-function object"},
	{"dofile", `return dofile("/etc/passwd")`, protocol.KindScript, "attempt to call a non-function object"},
	{"loadfile", `return loadfile("/proc/self/environ")`, protocol.KindScript, "attempt to call a non-function object"},
	{"debug_getregistry", `return debug.getregistry()`, protocol.KindScript, "attempt to index"},
	{"getfenv", `return getfenv(0)`, protocol.KindScript, "attempt to call a non-function object"},
	{"setfenv", `setfenv(1, {})`, protocol.KindScript, "attempt to call a non-function object"},
	{"print", `print("to stdout")`, protocol.KindScript, "attempt to call a non-function object"},
	{"printregs", `_printregs()`, protocol.KindScript, "attempt to call a non-function object"},
	{"collectgarbage", `collectgarbage("collect")`, protocol.KindScript, "attempt to call a non-function object"},
	{"newproxy", `return newproxy(true)`, protocol.KindScript, "attempt to call a non-function object"},
	{"string_dump", `return string.dump(handle)`, protocol.KindScript, "attempt to call a non-function object"},
	{"string_metatable_get", `getmetatable("").__index = {}`, protocol.KindScript, "attempt to index a non-table object(boolean)"},
	{"string_metatable_set", `setmetatable("", {})`, protocol.KindScript, "cannot change a protected metatable"},
	{"string_metatable_rawset", `rawset(getmetatable(""), "__index", {})`, protocol.KindScript, "bad argument #1"},
	{"package_loaded", `return package.loaded.os.execute("id")`, protocol.KindScript, "attempt to index"},
	{"channel_lib", `return channel.make()`, protocol.KindScript, "attempt to index"},
	{"coroutine", `return coroutine.create(function() end)`, protocol.KindScript, "attempt to index"},
	{"G_io", `return _G.io.open("/etc/passwd")`, protocol.KindScript, "attempt to index"},
	{"G_rawget_loadstring", `return rawget(_G, "loadstring")("return 1")`, protocol.KindScript, "attempt to call a non-function object"},
	{"proc_via_pattern", `return ("/proc/self/environ"):gsub(".", io.read)`, protocol.KindScript, "attempt to index"},
	{"string_rep_bomb", `return string.rep("x", 1e9)`, protocol.KindScript, "string.rep: result of"},
	{"string_rep_method_bomb", `return ("abc"):rep(2^40)`, protocol.KindScript, "over the limit"},
	{"format_width_bomb", `return string.format("%999999999d", 1)`, protocol.KindScript, "width or precision too long"},
	{"format_many_bomb", `local s = ("x"):rep(1e6) return string.format(("%s"):rep(100), s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s)`, protocol.KindScript, "over the limit"},
	{"gsub_output_bomb", `local s = ("x"):rep(1e6) return s:gsub("x", ("y"):rep(1000))`, protocol.KindScript, "over the limit"},
	{"gsub_backtracking_bomb", `local s = ("a"):rep(5000) return s:gsub(("a*"):rep(6) .. "b", "")`, protocol.KindScript, "pattern too complex"},
	{"find_backtracking_bomb", `local s = ("a"):rep(100000) return s:find(".-.-.-.-b")`, protocol.KindScript, "pattern too complex"},
	{"match_deep_pattern", `return ("a"):rep(1000):match(("a?"):rep(1000))`, protocol.KindScript, "pattern too complex"},
	{"gmatch_bomb", `for x in (("a"):rep(100000)):gmatch(".-.-.-b") do end`, protocol.KindScript, "pattern too complex"},
	{"table_concat_bomb", `local t = {} local s = ("x"):rep(1e6) for i = 1, 1000 do t[i] = s end return table.concat(t)`, protocol.KindScript, "table.concat: result is over the limit"},
	{"table_concat_range_bomb", `return table.concat({}, ",", 1, 2^40)`, protocol.KindScript, "table.concat"},
	{"unpack_huge", `return unpack({}, 1, 1e8)`, protocol.KindScript, "too many results to unpack"},
	{"string_char_huge", `local t = {} for i = 1, 10000 do t[i] = 65 end return string.char(unpack(t))`, protocol.KindScript, "too many results to unpack"},
	{"string_byte_huge", `return string.byte(("x"):rep(1e6), 1, -1)`, protocol.KindScript, "string.byte: too many results"},
	{"registry_overflow_in_vm", `local function f(...) local r = f(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...) return r end return f()`, kindLimit, "overflow"},
	{"deep_recursion", `local function f(n) return 1 + f(n + 1) end return f(1)`, protocol.KindScript, "stack overflow"},
	{"deep_pcall_recursion", `local function f() local ok, e = pcall(f) if not ok then error(e, 0) end end f()`, kindLimit, "stack overflow"},
	{"metatable_index_loop", `local t = setmetatable({}, {}) getmetatable(t).__index = t return t.x`, protocol.KindScript, ""},
	{"tostring_loop", `local t = setmetatable({}, {__tostring = function(s) return tostring(s) end}) return tostring(t)`, protocol.KindScript, "stack overflow"},
	{"error_with_table", `error({code = 1})`, protocol.KindScript, "table"},
	{"error_nil", `error()`, protocol.KindScript, "value expected"},
	{"infinite_loop", `while true do end`, protocol.KindTimeout, "timed out"},
	{"pcall_swallows_timeout", `while true do pcall(function() while true do end end) end`, protocol.KindTimeout, "timed out"},
	{"xpcall_handler_loop", `xpcall(function() error("x") end, function() while true do end end)`, protocol.KindTimeout, "timed out"},
	{"gsub_callback_loop", `return ("abc"):gsub(".", function() while true do end end)`, protocol.KindTimeout, "timed out"},
	{"sort_comparator_loop", `local t = {3, 2, 1} table.sort(t, function(a, b) while true do end end)`, protocol.KindTimeout, "timed out"},
	{"kv_outside_scope", `return kv.get(("k"):rep(2000))`, protocol.KindScript, "key must be 1 to 1024 bytes"},
}

// kindLimit accepts a script error with the message or a timeout: for
// attempts whose limit error costs time quadratic in the depth (gopher-lua
// formats a traceback at every level), which under -race on a loaded
// machine may exceed the timeout first. Either way the worker survives.
const kindLimit = "script or timeout"

// escapeScript wraps an attempt so that GET /ok answers "ok".
func escapeScript(code string) string {
	return "function handle(req)\n  if req.path == \"/ok\" then return \"ok\" end\n  " + code + "\nend\n"
}

func TestSandbox_EscapeAttemptsFailAndWorkerKeepsServing(t *testing.T) {
	if len(escapeAttempts) < 30 {
		t.Fatalf("the escape table has %d attempts, want at least 30", len(escapeAttempts))
	}
	for _, a := range escapeAttempts {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			spec := defaultSpec(escapeScript(a.code))
			timeout := 300 * time.Millisecond
			if a.kind == kindLimit {
				timeout = 5 * time.Second
			} else if a.kind != protocol.KindTimeout {
				// A limit must trip before a generous timeout, even on a
				// loaded machine under -race.
				timeout = 20 * time.Second
			}
			// No memory limit in process: the heap watch would measure
			// the whole test binary.
			spec.MemoryBytes = 0
			ts := newTestServer(t, spec)
			ts.timeout = timeout
			resp, ce := ts.call(path("/attempt"))
			if ce == nil {
				t.Fatalf("attempt succeeded: %d %q", resp.Status, resp.Body)
			}
			if a.kind == kindLimit && ce.Kind == protocol.KindTimeout {
				t.Logf("limit reached as a timeout: %s", ce.Message)
			} else if kind := strings.Replace(a.kind, kindLimit, protocol.KindScript, 1); ce.Kind != kind || !strings.Contains(ce.Message, a.want) {
				t.Fatalf("got %s error %q, want %s error containing %q", ce.Kind, ce.Message, a.kind, a.want)
			}
			t.Logf("%s: %s", ce.Kind, ce.Message)
			if got := ts.body(path("/ok")); got != "ok" {
				t.Fatalf("next call: got %q, want ok", got)
			}
		})
	}
}

func TestSandbox_OnlySafeGlobals(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
function handle(req)
  local names = {}
  for k in pairs(_G) do names[#names + 1] = k end
  table.sort(names)
  local os_names = {}
  for k in pairs(os) do os_names[#os_names + 1] = k end
  table.sort(os_names)
  return table.concat(names, " ") .. " | " .. table.concat(os_names, " ")
end`))
	got := ts.body(nil)
	want := "_G _VERSION assert blobs env error events getmetatable handle http ipairs json kv log math next os pairs pcall rawequal rawget rawset secrets select setmetatable string table tonumber tostring type unpack xpcall | clock date difftime time"
	if got != want {
		t.Fatalf("globals:\n got %s\nwant %s", got, want)
	}
}

func TestSandbox_StringMethodsStillWork(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
function handle(req)
  local s = "Hello, World"
  local parts = {}
  for w in s:gmatch("%a+") do parts[#parts + 1] = w:lower() end
  local a, b, cap = s:find("(W%a+)")
  local trimmed = ("  x y  "):match("^%s*(.-)%s*$")
  local swapped = ("k=v, a=b"):gsub("(%w+)=(%w+)", "%2=%1")
  local n = select(2, ("aaa"):gsub("a", "b"))
  local bal = ("f(a(b)c) d"):match("%b()")
  local fr = ("THE (quick) fox"):gsub("%f[%a]%a+", function(w) return w:sub(1,1) end)
  local pos = ("hello"):match("()ll()")
  local tbl = ("$x $y"):gsub("%$(%w+)", {x = "1", y = false})
  return table.concat(parts, ",") .. "|" .. a .. "-" .. b .. cap .. "|" .. trimmed .. "|" .. swapped ..
    "|" .. n .. "|" .. bal .. "|" .. fr .. "|" .. pos .. "|" .. tbl .. "|" .. string.rep("ab", 3) ..
    "|" .. string.format("%5.2f %s %d", 3.14159, "x", 42) .. "|" .. ("x"):byte() .. "|" .. ("%d"):format(7)
end`))
	got := ts.body(nil)
	want := "hello,world|8-12World|x y|v=k, b=a|3|(a(b)c)|T (q) f|3|1 $y|ababab| 3.14 x 42|120|7"
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}
