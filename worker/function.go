package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/picloud/picloud/protocol/wire"
	lua "github.com/yuin/gopher-lua"
)

// Causes of a call's context ending, told apart after the Lua VM stops.
var (
	errCallTimeout = errors.New("call timed out")
	errCallMemory  = errors.New("memory limit exceeded")
)

// function is one compiled function version and its pool of Lua states.
//
// Globals: each pooled LState runs the script's top level once, when it is
// created, and keeps its globals across the calls it serves, like a warm
// container elsewhere: a module-level cache survives between calls on the
// same state, but is neither shared between states nor guaranteed to last.
// A call's request, logs and events are never stored in a global by the
// worker. A state is thrown away after a timeout or memory error.
type function struct {
	spec  wire.FunctionSpec
	proto *lua.FunctionProto
	lim   limits
	pool  chan *luaState
}

// luaState is one pooled LState with its host API.
type luaState struct {
	L       *lua.LState
	handle  *lua.LFunction
	errFunc *lua.LFunction
	json    *jsonEncoder
	call    callState
}

// newFunction compiles spec.Source; a syntax error is a *wire.CallError.
func newFunction(spec wire.FunctionSpec) (*function, error) {
	proto, err := compile(spec.Source, chunkName(spec.Name), false)
	if err != nil {
		return nil, &wire.CallError{Kind: wire.KindScript, Message: err.Error()}
	}
	if spec.Concurrency < 1 {
		spec.Concurrency = 1
	}
	return &function{
		spec:  spec,
		proto: proto,
		lim:   limitsFor(spec.MemoryBytes),
		pool:  make(chan *luaState, spec.Concurrency),
	}, nil
}

// chunkName is the source name in error messages: "hello.lua:3: ...".
func chunkName(name string) string {
	if name == "" {
		name = "function"
	}
	return name + ".lua"
}

// get returns a pooled state or makes one.
func (f *function) get(ctx context.Context) (*luaState, *wire.CallError) {
	select {
	case st := <-f.pool:
		return st, nil
	default:
	}
	return f.newState(ctx)
}

// put returns a state to the pool, or closes it if the pool is full.
func (f *function) put(st *luaState) {
	st.call = callState{}
	select {
	case f.pool <- st:
	default:
		st.L.Close()
	}
}

// pooled is the number of idle states.
func (f *function) pooled() int { return len(f.pool) }

// newState makes a sandboxed LState and runs the script's top level on it
// (bounded by ctx), which must define handle.
func (f *function) newState(ctx context.Context) (st *luaState, ce *wire.CallError) {
	L := newSandboxState(f.lim)
	defer func() {
		if r := recover(); r != nil {
			L.Close()
			st, ce = nil, &wire.CallError{Kind: wire.KindScript, Message: chunkName(f.spec.Name) + ": " + panicMessage(r)}
		}
	}()
	null := L.NewUserData()
	arrayMT := L.NewTable()
	arrayMT.RawSetString("__metatable", lua.LString("json.array"))
	st = &luaState{L: L, json: &jsonEncoder{null: null, arrayMT: arrayMT, max: f.lim.maxString, budget: f.lim.jsonBudget}}
	st.errFunc = L.NewFunction(traceback)
	openJSON(L, st.json)
	openHostAPI(L, st)
	openEnv(L, f.spec.Env)

	st.call.reset(ctx, nil, f.spec.Name)
	L.SetContext(ctx)
	L.Push(L.NewFunctionFromProto(f.proto))
	err := L.PCall(0, 0, st.errFunc)
	L.RemoveContext()
	if err != nil {
		L.Close()
		return nil, f.callError(ctx, err, nil)
	}
	handle, ok := L.GetGlobal("handle").(*lua.LFunction)
	if !ok {
		L.Close()
		return nil, &wire.CallError{Kind: wire.KindScript,
			Message: chunkName(f.spec.Name) + ": the script does not define a function handle(req)"}
	}
	st.handle = handle
	return st, nil
}

// run calls handle(req) on st with ctx (which carries the timeout and the
// memory watch) and maps the result. It reports whether st may be reused.
func (f *function) run(ctx context.Context, st *luaState, req *wire.Request, host wire.Host) (resp *wire.Response, ce *wire.CallError, reuse bool) {
	L := st.L
	// gopher-lua can panic out of PCall itself (e.g. a registry overflow
	// while pushing the message handler): the state is then unusable, the
	// worker is fine.
	defer func() {
		if r := recover(); r != nil {
			resp, reuse = nil, false
			ce = &wire.CallError{Kind: wire.KindScript, Message: chunkName(f.spec.Name) + ": " + panicMessage(r),
				Logs: st.call.logs, LogsDropped: st.call.logsDropped}
		}
	}()
	st.call.reset(ctx, host, f.spec.Name)
	L.SetContext(ctx)
	L.Push(st.handle)
	L.Push(requestTable(L, st.json, req))
	err := L.PCall(1, 1, st.errFunc)
	L.RemoveContext()
	c := &st.call
	if err != nil {
		ce := f.callError(ctx, err, c)
		return nil, ce, ce.Kind == wire.KindScript && !c.hostBroken
	}
	ret := L.Get(-1)
	L.Pop(1)
	resp, rerr := st.response(ret)
	if rerr != nil {
		ce := &wire.CallError{Kind: wire.KindScript, Message: chunkName(f.spec.Name) + ": " + rerr.Error(),
			Logs: c.logs, LogsDropped: c.logsDropped}
		return nil, ce, !c.hostBroken
	}
	resp.Logs, resp.LogsDropped, resp.Events = c.logs, c.logsDropped, c.events
	return resp, nil, !c.hostBroken
}

// callError maps a Lua error to a CallError, using the context's cause to
// tell a timeout or memory failure from a script error.
func (f *function) callError(ctx context.Context, err error, c *callState) *wire.CallError {
	ce := &wire.CallError{Kind: wire.KindScript}
	if c != nil {
		ce.Logs, ce.LogsDropped = c.logs, c.logsDropped
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCallTimeout):
		ce.Kind = wire.KindTimeout
		ce.Message = cause.Error()
		return ce
	case errors.Is(cause, errCallMemory):
		ce.Kind = wire.KindMemory
		ce.Message = fmt.Sprintf("memory limit of %s exceeded", formatBytes(f.spec.MemoryBytes))
		return ce
	}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		ce.Message, ce.Traceback = splitTraceback(ae)
	} else {
		ce.Message = err.Error()
	}
	return ce
}

// panicMessage is the message of a panic recovered around the Lua VM.
func panicMessage(r any) string {
	if ae, ok := r.(*lua.ApiError); ok {
		msg, _ := splitTraceback(ae)
		return msg
	}
	return fmt.Sprint(r)
}

// The causes of a context ending at its deadline: a call's (the deadline
// in its call frame) and Load's (the spec's LoadDeadline). The worker
// knows only the absolute deadline; the supervisor, which decided it, words
// the message its callers see ("timed out after 10s").
var (
	errCallDeadline = &callTimeoutError{"timed out: the call ran past its deadline"}
	errLoadTimeout  = &callTimeoutError{"timed out: the script's top level ran past the function's timeout"}
)

type callTimeoutError struct{ msg string }

func (e *callTimeoutError) Error() string        { return e.msg }
func (e *callTimeoutError) Is(target error) bool { return target == errCallTimeout }

// traceback is the message handler of every protected call: it appends a
// stack traceback to a string error while the failing frames still exist.
func traceback(L *lua.LState) int {
	msg := L.Get(1)
	s, ok := msg.(lua.LString)
	if !ok {
		if msg == lua.LNil {
			s = "nil"
		} else {
			s = lua.LString(msg.String())
			if t, ok := msg.(*lua.LTable); ok {
				if m, ok := t.RawGetString("message").(lua.LString); ok {
					s = m
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString(string(s))
	b.WriteString(tracebackMarker)
	for level := 0; level < 20; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sln", dbg, lua.LNil); err != nil {
			break
		}
		if dbg.What == "G" {
			continue
		}
		fmt.Fprintf(&b, "\n\t%s:%d:", dbg.Source, dbg.CurrentLine)
		if dbg.Name != "" {
			fmt.Fprintf(&b, " in function '%s'", dbg.Name)
		} else if dbg.What == "main" {
			b.WriteString(" in main chunk")
		} else {
			b.WriteString(" in function <anonymous>")
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

const tracebackMarker = "\nstack traceback:"

// splitTraceback separates the message from the traceback the message
// handler appended.
func splitTraceback(ae *lua.ApiError) (msg, tb string) {
	s := ae.Object.String()
	if i := strings.Index(s, tracebackMarker); i >= 0 {
		return s[:i], strings.TrimPrefix(s[i:], "\n")
	}
	return s, ae.StackTrace
}

// formatBytes formats a limit as "32 MiB".
func formatBytes(n int64) string {
	switch {
	case n <= 0:
		return "unlimited"
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
