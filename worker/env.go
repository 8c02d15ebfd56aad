package worker

import (
	lua "github.com/yuin/gopher-lua"
)

// openEnv sets the global env: the version's config (picloud deploy --env
// KEY=VALUE) as a read-only table. env.KEY is the value, a string, or nil
// when unset; assigning to it raises an error. The values sit behind
// __index, so pairs(env) lists nothing.
func openEnv(L *lua.LState, vars map[string]string) {
	data := L.CreateTable(0, len(vars))
	for k, v := range vars {
		data.RawSetString(k, lua.LString(v))
	}
	mt := L.NewTable()
	mt.RawSetString("__index", data)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("env is read-only: set %s with picloud deploy --env KEY=VALUE", lua.LVAsString(L.Get(2)))
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	env := L.NewTable()
	L.SetMetatable(env, mt)
	L.SetGlobal("env", env)
}
