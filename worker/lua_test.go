package worker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
)

func TestJSON_EdgeCases(t *testing.T) {
	cases := []struct {
		name string
		expr string // a Lua expression whose value is returned as the body
		want string
	}{
		{"empty_table_is_object", `json.encode({})`, `{}`},
		{"marked_empty_array", `json.encode(json.array())`, `[]`},
		{"decoded_empty_array_stays_array", `json.encode(json.decode("[]"))`, `[]`},
		{"decoded_empty_object_stays_object", `json.encode(json.decode("{}"))`, `{}`},
		{"sequence_is_array", `json.encode({1, "a", true})`, `[1,"a",true]`},
		{"sparse_is_object", `json.encode({[1] = "a", [3] = "c"})`, `{"1":"a","3":"c"}`},
		{"number_keys_become_strings", `json.encode({[1.5] = "x", y = 2})`, `{"1.5":"x","y":2}`},
		{"sorted_keys", `json.encode({b = 1, a = 2, c = {d = 3}})`, `{"a":2,"b":1,"c":{"d":3}}`},
		{"null_roundtrip", `json.encode(json.decode('{"a":null,"b":[1,null,3]}'))`, `{"a":null,"b":[1,null,3]}`},
		{"null_is_json_null", `tostring(json.decode("null") == json.null)`, `true`},
		{"nil_encodes_null", `json.encode(nil)`, `null`},
		{"floats_and_ints", `json.encode({1, 2.5, -0.125, 1e20, 123456789012})`, `[1,2.5,-0.125,1e+20,123456789012]`},
		{"escapes", `json.encode("a\"b\\c\n<&>\1")`, `"a\"b\\c\n<&>\u0001"`},
		{"invalid_utf8", `json.encode("\255")`, `"\ufffd"`},
		{"decode_types", `(function() local v = json.decode('{"s":"x","n":1.5,"t":true,"f":false,"a":[1]}') return v.s .. v.n .. tostring(v.t) .. tostring(v.f) .. #v.a end)()`, `x1.5truefalse1`},
		{"decode_unicode", `json.decode('"\\u00e9\\ud83d\\ude00"')`, "é😀"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, defaultSpec("function handle(req) return "+c.expr+" end"))
			if got := ts.body(nil); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestJSON_Errors(t *testing.T) {
	cases := []struct {
		name string
		code string
		want string
	}{
		{"nan", `json.encode(0/0)`, "json.encode: cannot encode NaN"},
		{"inf", `json.encode({x = 1/0})`, "json.encode: cannot encode +Inf"},
		{"boolean_key", `json.encode({[true] = 1})`, "table key of type boolean cannot be encoded"},
		{"table_key", `json.encode({[{}] = 1})`, "table key of type table cannot be encoded"},
		{"function_value", `json.encode({f = print or handle})`, "cannot encode a function"},
		{"cycle", `local t = {} t.t = t json.encode(t)`, "nesting deeper than 100"},
		{"decode_deep", `json.decode(("["):rep(200) .. ("]"):rep(200))`, "nesting deeper than 100"},
		{"decode_garbage", `json.decode("{x")`, "json.decode:"},
		{"decode_out_of_range", `json.decode("1e400")`, "out of range"},
		{"decode_trailing", `json.decode("1 2")`, "invalid character after top-level value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, defaultSpec("function handle(req) "+c.code+" end"))
			_, ce := ts.call(nil)
			if ce == nil || ce.Kind != protocol.KindScript || !strings.Contains(ce.Message, c.want) {
				t.Fatalf("got %+v, want a script error containing %q", ce, c.want)
			}
		})
	}
}

func TestLogs_BoundedAndCounted(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
function handle(req)
  log.debug("d") log.info("i", 1, true) log.warn({a = 1}) log.error(("x"):rep(10000))
  for i = 1, 200 do log.info("n", i) end
  return "ok"
end`))
	resp, ce := ts.call(nil)
	if ce != nil {
		t.Fatal(ce)
	}
	if len(resp.Logs) != maxLogEntries || resp.LogsDropped != 104 {
		t.Fatalf("%d logs, %d dropped; want %d and 104", len(resp.Logs), resp.LogsDropped, maxLogEntries)
	}
	l := resp.Logs
	if l[0].Level != "debug" || l[1].Message != "i 1 true" || l[2].Level != "warn" || l[2].Message != `{"a":1}` || l[3].Level != "error" {
		t.Fatalf("logs: %+v", l[:4])
	}
	if len(l[3].Message) > maxLogMessage+len("…") {
		t.Fatalf("long message kept %d bytes", len(l[3].Message))
	}
	// Logs of the next call start empty.
	ts2 := newTestServer(t, defaultSpec(`n = 0 function handle(req) n = n + 1 log.info("call", n) return tostring(n) end`))
	ts2.body(nil)
	resp, _ = ts2.call(nil)
	if len(resp.Logs) != 1 || resp.Logs[0].Message != "call 2" {
		t.Fatalf("second call logs: %+v", resp.Logs)
	}
}

func TestLogs_ReturnedWithScriptError(t *testing.T) {
	ts := newTestServer(t, defaultSpec("function handle(req)\n  log.info(\"before\")\n  local x = nil\n  return x.y\nend"))
	_, ce := ts.call(nil)
	if ce == nil || ce.Message != "t.lua:4: attempt to index a non-table object(nil) with key 'y'" {
		t.Fatalf("got %+v", ce)
	}
	if len(ce.Logs) != 1 || ce.Logs[0].Message != "before" {
		t.Fatalf("logs: %+v", ce.Logs)
	}
	if !strings.Contains(ce.Traceback, "stack traceback:") || !strings.Contains(ce.Traceback, "t.lua:4:") {
		t.Fatalf("traceback: %q", ce.Traceback)
	}
}

func TestResponse_Mapping(t *testing.T) {
	cases := []struct {
		name    string
		ret     string
		status  int
		ctype   string
		body    string
		errPart string
	}{
		{"string", `"hi"`, 200, "text/plain; charset=utf-8", "hi", ""},
		{"nil", `nil`, 204, "", "", ""},
		{"table_json", `{a = 1}`, 200, "application/json", `{"a":1}`, ""},
		{"status_string_body", `{status = 201, body = "made"}`, 201, "text/plain; charset=utf-8", "made", ""},
		{"status_table_body", `{status = 400, body = {error = "bad"}}`, 400, "application/json", `{"error":"bad"}`, ""},
		{"status_headers", `{status = 302, headers = {Location = "/x", ["Content-Type"] = "text/html"}}`, 302, "text/html", "", ""},
		{"status_no_body", `{status = 404}`, 404, "", "", ""},
		{"number", `42`, 0, "", "", "handle returned a number"},
		{"boolean", `true`, 0, "", "", "handle returned a boolean"},
		{"bad_status", `{status = 99}`, 0, "", "", "status must be an integer from 100 to 599"},
		{"status_string", `{status = "200"}`, 0, "", "", "status must be an integer"},
		{"bad_header", `{status = 200, headers = {x = {}}}`, 0, "", "", `header "x" must be a string`},
		{"bad_body", `{status = 200, body = true}`, 0, "", "", "body must be a string or a table"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, defaultSpec("function handle(req) return "+c.ret+" end"))
			resp, ce := ts.call(nil)
			if c.errPart != "" {
				if ce == nil || !strings.Contains(ce.Message, c.errPart) {
					t.Fatalf("got %+v %+v, want error %q", resp, ce, c.errPart)
				}
				return
			}
			if ce != nil {
				t.Fatal(ce)
			}
			if resp.Status != c.status || resp.Headers["content-type"] != c.ctype || string(resp.Body) != c.body {
				t.Fatalf("got %d %q %q", resp.Status, resp.Headers["content-type"], resp.Body)
			}
		})
	}
}

func TestRequest_Fields(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
function handle(req)
  return {method = req.method, path = req.path, q = req.query.a, h = req.headers["x-token"],
          body = req.body, trigger = req.trigger, id = req.id, event = req.event}
end`))
	resp, ce := ts.call(&protocol.Request{InvocationID: "inv-1", Method: "POST", Path: "/p",
		Query: map[string][]string{"a": {"1", "2"}}, Headers: map[string]string{"X-Token": "t"},
		Body: []byte("b"), Trigger: protocol.TriggerEvent, Event: []byte(`{"topic":"x"}`)})
	if ce != nil {
		t.Fatal(ce)
	}
	want := `{"body":"b","event":{"topic":"x"},"h":"t","id":"inv-1","method":"POST","path":"/p","q":"1","trigger":"event"}`
	if string(resp.Body) != want {
		t.Fatalf("got %s\nwant %s", resp.Body, want)
	}
}

func TestGlobals_PersistPerStateButRequestsDoNot(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
count = 0
function handle(req)
  count = count + 1
  if req.path == "/set" then last = req end
  return tostring(count)
end`))
	if got := ts.body(path("/set")); got != "1" {
		t.Fatalf("first call: %s", got)
	}
	if got := ts.body(nil); got != "2" {
		t.Fatalf("second call on the pooled state: %s", got)
	}
}

func TestValidate_ReportsLineAndColumn(t *testing.T) {
	cases := []struct {
		name      string
		src       string
		line, col int
		msg       string
	}{
		{"ok", "function handle(req) return 1 end", 0, 0, ""},
		{"bad_token", "function handle(req)\n  return 1 +\nend\n", 3, 3, "syntax error"},
		{"unclosed", "function handle(req)\n  if x then\n", 3, 0, "unexpected end of source"},
		{"bad_string", "x = \"abc\n", 2, 0, "unterminated string"},
		{"nesting", "x = " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), 1, 205, "nested deeper"},
		{"goto_like_compile_error", "function f(...) return function() return ... end end", 1, 0, "cannot use '...' outside a vararg function"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.src)
			if c.msg == "" {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Line != c.line || se.Column != c.col || !strings.Contains(se.Message, c.msg) {
				t.Fatalf("got %d:%d %q, want %d:%d containing %q", se.Line, se.Column, se.Message, c.line, c.col, c.msg)
			}
		})
	}
}

func TestTimeout_StateReplacedAndNextCallWorks(t *testing.T) {
	spec := defaultSpec(`n = 0 function handle(req) n = n + 1 if req.path == "/loop" then while true do end end return tostring(n) end`)
	ts := newTestServer(t, spec)
	ts.timeout = 200 * time.Millisecond
	_, ce := ts.call(path("/loop"))
	if ce == nil || ce.Kind != protocol.KindTimeout || ce.Message != errCallDeadline.Error() {
		t.Fatalf("got %+v", ce)
	}
	// A pooled state that was not interrupted keeps its count; the
	// interrupted one was thrown away.
	if got := ts.body(nil); got != "1" {
		t.Fatalf("next call: %s", got)
	}
}
