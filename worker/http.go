package worker

import (
	"time"

	"github.com/picloud/picloud/protocol/wire"
	lua "github.com/yuin/gopher-lua"
)

// Bounds of one http.request the worker checks before asking the host
// (which has its own, configurable, caps on bodies and counts).
const (
	maxHTTPURL         = 8 << 10
	maxHTTPHeaders     = 100
	maxHTTPHeaderBytes = 8 << 10
	maxHTTPBody        = 32 << 20 // within a frame of the data path
)

// openHTTP registers http.request and http.get. The worker has no
// sockets: the supervisor makes the request (package outbound) and says
// why when it refuses one; the refusal is a Lua error.
func openHTTP(L *lua.LState, st *luaState) {
	mod := L.NewTable()
	mod.RawSetString("request", L.NewFunction(func(L *lua.LState) int {
		opts := L.CheckTable(1)
		req := &wire.HTTPRequest{Method: "GET"}
		req.URL = httpString(L, opts, "url", true)
		if m := httpString(L, opts, "method", false); m != "" {
			req.Method = m
		}
		req.Body = []byte(httpString(L, opts, "body", false))
		req.Headers = httpHeaders(L, opts.RawGetString("headers"))
		req.Timeout = httpTimeout(L, opts.RawGetString("timeout"))
		return st.httpDo(L, req)
	}))
	mod.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		req := &wire.HTTPRequest{Method: "GET", URL: L.CheckString(1)}
		if opts := L.OptTable(2, nil); opts != nil {
			req.Headers = httpHeaders(L, opts.RawGetString("headers"))
			req.Timeout = httpTimeout(L, opts.RawGetString("timeout"))
		}
		return st.httpDo(L, req)
	}))
	L.SetGlobal("http", mod)
}

// httpDo checks req's sizes, asks the host and pushes {status, headers,
// body}.
func (st *luaState) httpDo(L *lua.LState, req *wire.HTTPRequest) int {
	switch {
	case req.URL == "":
		L.RaiseError("http.request: url is required")
	case len(req.URL) > maxHTTPURL:
		L.RaiseError("http.request: url of %d bytes is over the limit of %d", len(req.URL), maxHTTPURL)
	case len(req.Body) > maxHTTPBody:
		L.RaiseError("http.request: body of %d bytes is over the limit of %d", len(req.Body), maxHTTPBody)
	}
	resp, err := st.host().HTTPRequest(st.call.ctx, st.call.function, req)
	st.hostErr(L, "http.request", err)
	out := L.CreateTable(0, 3)
	out.RawSetString("status", lua.LNumber(resp.Status))
	headers := L.CreateTable(0, len(resp.Headers))
	for k, v := range resp.Headers {
		headers.RawSetString(k, lua.LString(v))
	}
	out.RawSetString("headers", headers)
	out.RawSetString("body", lua.LString(resp.Body))
	L.Push(out)
	return 1
}

// httpString reads the string field name of opts (numbers are taken as
// their text).
func httpString(L *lua.LState, opts *lua.LTable, name string, required bool) string {
	switch v := opts.RawGetString(name).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	case *lua.LNilType:
		if required {
			L.RaiseError("http.request: %s is required", name)
		}
		return ""
	default:
		L.RaiseError("http.request: %s must be a string, not a %s", name, v.Type())
	}
	return ""
}

// httpHeaders reads a table of header names to string values.
func httpHeaders(L *lua.LState, v lua.LValue) map[string]string {
	if v == lua.LNil {
		return nil
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		L.RaiseError("http.request: headers must be a table of names to strings, not a %s", v.Type())
	}
	out := map[string]string{}
	t.ForEach(func(k, val lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok {
			L.RaiseError("http.request: header names must be strings")
		}
		var s string
		switch x := val.(type) {
		case lua.LString:
			s = string(x)
		case lua.LNumber:
			s = x.String()
		default:
			L.RaiseError("http.request: header %q must be a string, not a %s", string(name), val.Type())
		}
		if len(name)+len(s) > maxHTTPHeaderBytes {
			L.RaiseError("http.request: header %q is over the limit of %d bytes", string(name), maxHTTPHeaderBytes)
		}
		out[string(name)] = s
	})
	if len(out) > maxHTTPHeaders {
		L.RaiseError("http.request: %d headers is over the limit of %d", len(out), maxHTTPHeaders)
	}
	return out
}

// httpTimeout reads a timeout in seconds; nil is none (the call's
// remaining time).
func httpTimeout(L *lua.LState, v lua.LValue) time.Duration {
	switch x := v.(type) {
	case *lua.LNilType:
		return 0
	case lua.LNumber:
		if x <= 0 {
			L.RaiseError("http.request: timeout must be a positive number of seconds")
		}
		return time.Duration(float64(min(x, 3600)) * float64(time.Second))
	}
	L.RaiseError("http.request: timeout must be a number of seconds, not a %s", v.Type())
	return 0
}
