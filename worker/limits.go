package worker

import (
	lua "github.com/yuin/gopher-lua"
)

// limits are the caps on the host-side amplifiers: Go code that the Lua
// timeout cannot interrupt while it runs, so its input and output are
// bounded before it starts.
type limits struct {
	// maxString bounds a string built by string.rep, string.format,
	// table.concat and string.gsub, and the subject of the pattern
	// functions.
	maxString int
	// patternSteps bounds the backtracking steps of one pattern match call
	// (string.find/match/gmatch/gsub).
	patternSteps int
	// jsonBudget bounds the estimated memory of the value one json.decode
	// (or kv.get, kv.list, req.event) builds: a decode amplifies its input
	// (5 MB of small values is hundreds of MB of Lua tables) faster than
	// the heap watch samples, so it counts as it goes.
	jsonBudget int64
}

// Cap ranges: maxString is an eighth of the memory limit, within these.
const (
	minStringCap     = 1 << 20
	maxStringCap     = 64 << 20
	defaultStringCap = 16 << 20
	// defaultPatternSteps is the base budget of matcher steps of one
	// pattern call (a few milliseconds); patternStepsPerByte more per byte
	// of the subject, so linear scans of long strings fit.
	defaultPatternSteps = 1_000_000
	patternStepsPerByte = 8
)

// JSON decode budget: a quarter of the memory limit, at least
// minJSONBudget; defaultJSONBudget without a limit. Concurrent decodes
// that together near the limit are stopped by the heap watch (a decode
// looks at the call's context as it goes).
const (
	minJSONBudget     = 1 << 20
	defaultJSONBudget = 64 << 20
)

// limitsFor derives the caps from a memory limit in bytes (0: none).
func limitsFor(memoryBytes int64) limits {
	s := int64(defaultStringCap)
	j := int64(defaultJSONBudget)
	if memoryBytes > 0 {
		s = min(max(memoryBytes/8, minStringCap), maxStringCap)
		j = max(memoryBytes/4, minJSONBudget)
	}
	return limits{maxString: int(s), patternSteps: defaultPatternSteps, jsonBudget: j}
}

// installStringCaps replaces the string functions whose Go implementation
// could run long or allocate without bound.
func installStringCaps(L *lua.LState, str *lua.LTable, lim limits) {
	rep := str.RawGetString("rep").(*lua.LFunction)
	str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n > 0 && int64(len(s))*int64(n) > int64(lim.maxString) {
			L.RaiseError("string.rep: result of %d bytes is over the limit of %d", int64(len(s))*int64(n), lim.maxString)
		}
		return callOriginal(L, rep)
	}))

	format := str.RawGetString("format").(*lua.LFunction)
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		f := L.CheckString(1)
		size, err := formatSize(f)
		if err != "" {
			L.RaiseError("string.format: %s", err)
		}
		for i := 2; i <= L.GetTop(); i++ {
			if s, ok := L.Get(i).(lua.LString); ok {
				size += 2 * int64(len(s)) // %q may escape every byte
			}
		}
		if size > int64(lim.maxString) {
			L.RaiseError("string.format: result of about %d bytes is over the limit of %d", size, lim.maxString)
		}
		return callOriginal(L, format)
	}))

	byteFn := str.RawGetString("byte").(*lua.LFunction)
	str.RawSetString("byte", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		i := strIndex(L.OptInt(2, 1), len(s))
		j := L.OptInt(3, i+1)
		if j < 0 {
			j = len(s) + j + 1
		}
		if j-i > maxUnpack {
			L.RaiseError("string.byte: too many results (%d, limit %d)", j-i, maxUnpack)
		}
		return callOriginal(L, byteFn)
	}))

	installPatternFuncs(L, str, lim)
}

// installTableCaps bounds table.concat's result.
func installTableCaps(L *lua.LState, tab *lua.LTable, lim limits) {
	concat := tab.RawGetString("concat").(*lua.LFunction)
	tab.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		i := L.OptInt(3, 1)
		j := L.OptInt(4, t.Len())
		if i > j {
			return callOriginal(L, concat)
		}
		if int64(j)-int64(i) >= int64(lim.maxString) {
			L.RaiseError("table.concat: range of %d elements is over the limit", int64(j)-int64(i)+1)
		}
		var size int64
		for k := i; k <= j; k++ {
			switch v := t.RawGetInt(k).(type) {
			case lua.LString:
				size += int64(len(v))
			case lua.LNumber:
				size += 24
			}
			size += int64(len(sep))
			if size > int64(lim.maxString) {
				L.RaiseError("table.concat: result is over the limit of %d bytes", lim.maxString)
			}
		}
		return callOriginal(L, concat)
	}))
}

// callOriginal calls the wrapped Go function with the current arguments and
// returns its results.
func callOriginal(L *lua.LState, fn *lua.LFunction) int {
	top := L.GetTop()
	L.Insert(fn, 1)
	L.Call(top, lua.MultRet)
	return L.GetTop()
}

// formatSize checks a string.format template the way Lua 5.1 does (width
// and precision at most two digits) and returns an upper bound of its
// output without the %s arguments.
func formatSize(f string) (int64, string) {
	size := int64(len(f))
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && (f[i] == '-' || f[i] == '+' || f[i] == ' ' || f[i] == '#' || f[i] == '0') {
			i++
		}
		digits := 0
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			i++
			digits++
		}
		if digits > 2 {
			return 0, "invalid format (width or precision too long)"
		}
		if i < len(f) && f[i] == '.' {
			i++
			digits = 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				digits++
			}
			if digits > 2 {
				return 0, "invalid format (width or precision too long)"
			}
		}
		// A number or %q of a string: at most 99 wide, plus the value.
		size += 128
	}
	return size, ""
}
