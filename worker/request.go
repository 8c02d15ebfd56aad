package worker

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/picloud/picloud/protocol/wire"
	lua "github.com/yuin/gopher-lua"
)

// requestTable builds the req table a handler receives:
//
//	req.id       invocation id
//	req.method   "GET", ...
//	req.path     the path after /fn/NAME ("/" at least)
//	req.query    table: name → first value (a string)
//	req.headers  table: lower-case name → value
//	req.body     string ("" when empty)
//	req.trigger  "http" | "cron" | "event" | "dead_letter"
//	req.event    the decoded event (event and dead-letter triggers), else nil
func requestTable(L *lua.LState, js *jsonEncoder, req *wire.Request) *lua.LTable {
	t := L.CreateTable(0, 8)
	t.RawSetString("id", lua.LString(req.InvocationID))
	t.RawSetString("method", lua.LString(req.Method))
	t.RawSetString("path", lua.LString(req.Path))
	q := L.CreateTable(0, len(req.Query))
	for k, vs := range req.Query {
		if len(vs) > 0 {
			q.RawSetString(k, lua.LString(vs[0]))
		}
	}
	t.RawSetString("query", q)
	h := L.CreateTable(0, len(req.Headers))
	for k, v := range req.Headers {
		h.RawSetString(strings.ToLower(k), lua.LString(v))
	}
	t.RawSetString("headers", h)
	t.RawSetString("body", lua.LString(req.Body))
	t.RawSetString("trigger", lua.LString(req.Trigger))
	if len(req.Event) > 0 {
		if ev, err := js.decode(L, string(req.Event)); err == nil {
			t.RawSetString("event", ev)
		}
	}
	return t
}

// Content types of mapped return values.
const (
	contentText = "text/plain; charset=utf-8"
	contentJSON = "application/json"
)

// response maps what handle returned:
//
//   - a string: 200, text/plain, the string as body;
//   - a table with status: that status (100-599), its headers (a table of
//     name → string or number; names lower-cased) and its body: a string,
//     or a table (JSON-encoded, content-type application/json unless set),
//     or nil (empty);
//   - a table without status: 200, the table JSON-encoded, application/json;
//   - nil (no return value): 204 with an empty body;
//   - anything else is a script error.
func (st *luaState) response(v lua.LValue) (*wire.Response, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return &wire.Response{Status: 204}, nil
	case lua.LString:
		return &wire.Response{Status: 200, Headers: map[string]string{"content-type": contentText}, Body: []byte(v)}, nil
	case *lua.LTable:
		status := v.RawGetString("status")
		if status == lua.LNil {
			var buf bytes.Buffer
			if err := st.json.encode(&buf, v, 0); err != nil {
				return nil, fmt.Errorf("encode returned table as JSON: %w", err)
			}
			return &wire.Response{Status: 200, Headers: map[string]string{"content-type": contentJSON}, Body: buf.Bytes()}, nil
		}
		return st.statusResponse(v, status)
	}
	return nil, fmt.Errorf("handle returned a %s; return a string, a table or nil", v.Type())
}

func (st *luaState) statusResponse(t *lua.LTable, status lua.LValue) (*wire.Response, error) {
	n, ok := status.(lua.LNumber)
	if !ok || float64(n) != float64(int(n)) || n < 100 || n > 599 {
		return nil, fmt.Errorf("status must be an integer from 100 to 599, not %s", status.String())
	}
	resp := &wire.Response{Status: int(n), Headers: map[string]string{}}
	switch h := t.RawGetString("headers").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		var herr error
		h.ForEach(func(k, v lua.LValue) {
			ks, ok := k.(lua.LString)
			if !ok {
				herr = fmt.Errorf("header name must be a string, not a %s", k.Type())
				return
			}
			switch v.(type) {
			case lua.LString, lua.LNumber:
				resp.Headers[strings.ToLower(string(ks))] = v.String()
			default:
				herr = fmt.Errorf("header %q must be a string, not a %s", string(ks), v.Type())
			}
		})
		if herr != nil {
			return nil, herr
		}
	default:
		return nil, fmt.Errorf("headers must be a table, not a %s", h.Type())
	}
	switch b := t.RawGetString("body").(type) {
	case *lua.LNilType:
	case lua.LString:
		resp.Body = []byte(b)
		if _, ok := resp.Headers["content-type"]; !ok && len(b) > 0 {
			resp.Headers["content-type"] = contentText
		}
	case lua.LNumber:
		resp.Body = []byte(b.String())
	case *lua.LTable:
		var buf bytes.Buffer
		if err := st.json.encode(&buf, b, 0); err != nil {
			return nil, fmt.Errorf("encode body as JSON: %w", err)
		}
		resp.Body = buf.Bytes()
		if _, ok := resp.Headers["content-type"]; !ok {
			resp.Headers["content-type"] = contentJSON
		}
	default:
		return nil, fmt.Errorf("body must be a string or a table, not a %s", b.Type())
	}
	return resp, nil
}
