package worker

import (
	lua "github.com/yuin/gopher-lua"
)

// Lua VM sizes. The call stack bounds recursion depth (deeper is a Lua
// "stack overflow" error); the registry (data stack) starts small and may
// grow to RegistryMaxSize slots of 16 bytes, so a runaway pushes an error
// instead of eating memory.
const (
	callStackSize   = 1000
	registrySize    = 2 * 1024
	registryMaxSize = 128 * 1024
	registryGrow    = 1024
	// maxUnpack bounds the results of unpack (Lua's own limit is the C
	// stack).
	maxUnpack = 8000
)

// removedBase are the base library entries a function must not reach: they
// load code, touch files, print to the worker's stdout, tune the collector,
// change environments or create userdata.
var removedBase = []string{
	"dofile", "loadfile", "load", "loadstring", "require", "module",
	"collectgarbage", "getfenv", "setfenv", "newproxy", "print", "_printregs",
	"_GOPHER_LUA_VERSION",
}

// newSandboxState returns an LState with only the safe libraries open:
// base (minus removedBase), table, string, math and os.time/clock/date/
// difftime, with the host-side amplifiers capped by lim, and the string
// metatable protected. The host API (json, log, events, kv, secrets) is
// added by the caller.
func newSandboxState(lim limits) *lua.LState {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       callStackSize,
		RegistrySize:        registrySize,
		RegistryMaxSize:     registryMaxSize,
		RegistryGrowStep:    registryGrow,
		MinimizeStackMemory: true,
	})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range removedBase {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("unpack", L.NewFunction(luaUnpack))

	// os: only the clock functions.
	osFull := L.GetGlobal(lua.OsLibName).(*lua.LTable)
	osSafe := L.NewTable()
	for _, name := range []string{"time", "clock", "date", "difftime"} {
		osSafe.RawSetString(name, osFull.RawGetString(name))
	}
	g.RawSetString(lua.OsLibName, osSafe)

	// string: capped amplifiers, no dump, and a metatable scripts cannot
	// reach (getmetatable("") returns false).
	str := L.GetGlobal(lua.StringLibName).(*lua.LTable)
	installStringCaps(L, str, lim)
	str.RawSetString("dump", lua.LNil)
	str.RawSetString("__index", lua.LNil)
	mt := L.NewTable()
	mt.RawSetString("__index", str)
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), mt)

	tab := L.GetGlobal(lua.TabLibName).(*lua.LTable)
	installTableCaps(L, tab, lim)
	return L
}

// luaUnpack is unpack with a bound on the number of results.
func luaUnpack(L *lua.LState) int {
	tb := L.CheckTable(1)
	start := L.OptInt(2, 1)
	end := L.OptInt(3, tb.Len())
	if start > end {
		return 0
	}
	n := int64(end) - int64(start) + 1
	if n > maxUnpack {
		L.RaiseError("too many results to unpack (%d, limit %d)", n, maxUnpack)
	}
	for i := start; i <= end; i++ {
		L.Push(tb.RawGetInt(i))
	}
	return int(n)
}
