// This file ports the pattern matcher of Lua 5.1's lstrlib.c to Go. That
// code is under the MIT license of Lua 5.1:
//
// Copyright (C) 1994-2012 Lua.org, PUC-Rio.
//
// Permission is hereby granted, free of charge, to any person obtaining
// a copy of this software and associated documentation files (the
// "Software"), to deal in the Software without restriction, including
// without limitation the rights to use, copy, modify, merge, publish,
// distribute, sublicense, and/or sell copies of the Software, and to
// permit persons to whom the Software is furnished to do so, subject to
// the following conditions:
//
// The above copyright notice and this permission notice shall be
// included in all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
// EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
// MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
// IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
// CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
// TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
// SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
//
// The changes and the rest of PiCloud: Copyright 2026 The PiCloud authors,
// Apache License 2.0 (see LICENSE at the root of the repository).

package worker

import (
	"context"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The Lua pattern functions (string.find, match, gmatch, gsub) are our own
// port of Lua 5.1's lstrlib.c matcher, replacing gopher-lua's: that one
// recurses in Go once per matched character (".*" over a long string makes
// a deep Go stack), collects every match before gsub replaces anything,
// replaces in quadratic time and cannot be interrupted. This one recurses
// once per pattern item (bounded by maxMatchDepth), counts its steps
// against a budget, checks the call's context every few thousand steps (so
// the call timeout interrupts it) and bounds gsub's output.

const (
	maxCaptures   = 32
	maxMatchDepth = 200
	capUnfinished = -1
	capPosition   = -2
	specials      = "^$*+?.([%-"
	ctxCheckEvery = 1 << 14
)

// patternError is raised (as a panic caught by the Lua function wrapper)
// for malformed patterns and exhausted budgets.
type patternError struct{ msg string }

type capture struct {
	init int
	len  int
}

// matchState is one match attempt's state (Lua's MatchState).
type matchState struct {
	src     string
	pat     string
	level   int
	capture [maxCaptures]capture
	depth   int
	steps   int
	budget  int
	ctx     context.Context
}

func (ms *matchState) fail(format string, args ...any) {
	panic(&patternError{fmt.Sprintf(format, args...)})
}

func (ms *matchState) step() {
	ms.steps++
	if ms.steps > ms.budget {
		ms.fail("pattern too complex (over %d matching steps)", ms.budget)
	}
	if ms.steps%ctxCheckEvery == 0 && ms.ctx != nil && ms.ctx.Err() != nil {
		ms.fail("pattern matching interrupted")
	}
}

func (ms *matchState) checkCapture(l int) int {
	l -= '1'
	if l < 0 || l >= ms.level || ms.capture[l].len == capUnfinished {
		ms.fail("invalid capture index")
	}
	return l
}

func (ms *matchState) captureToClose() int {
	for level := ms.level - 1; level >= 0; level-- {
		if ms.capture[level].len == capUnfinished {
			return level
		}
	}
	ms.fail("invalid pattern capture")
	return 0
}

// patAt returns the pattern byte at p, 0 past the end (like C's NUL).
func (ms *matchState) patAt(p int) byte {
	if p < len(ms.pat) {
		return ms.pat[p]
	}
	return 0
}

func (ms *matchState) classEnd(p int) int {
	c := ms.patAt(p)
	p++
	switch c {
	case '%':
		if p >= len(ms.pat) {
			ms.fail("malformed pattern (ends with '%%')")
		}
		return p + 1
	case '[':
		if ms.patAt(p) == '^' {
			p++
		}
		for {
			if p >= len(ms.pat) {
				ms.fail("malformed pattern (missing ']')")
			}
			c := ms.pat[p]
			p++
			if c == '%' && p < len(ms.pat) {
				p++
			}
			if ms.patAt(p) == ']' {
				break
			}
		}
		return p + 1
	}
	return p
}

func isalpha(c int) bool  { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isdigit(c int) bool  { return c >= '0' && c <= '9' }
func islower(c int) bool  { return c >= 'a' && c <= 'z' }
func isupper(c int) bool  { return c >= 'A' && c <= 'Z' }
func isspace(c int) bool  { return c == ' ' || c >= '\t' && c <= '\r' }
func iscntrl(c int) bool  { return c < 32 || c == 127 }
func ispunct(c int) bool  { return c > 32 && c < 127 && !isalpha(c) && !isdigit(c) }
func isxdigit(c int) bool { return isdigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func matchClass(c, cl int) bool {
	var res bool
	lower := cl
	if isupper(cl) {
		lower = cl + 32
	}
	switch lower {
	case 'a':
		res = isalpha(c)
	case 'c':
		res = iscntrl(c)
	case 'd':
		res = isdigit(c)
	case 'l':
		res = islower(c)
	case 'p':
		res = ispunct(c)
	case 's':
		res = isspace(c)
	case 'u':
		res = isupper(c)
	case 'w':
		res = isalpha(c) || isdigit(c)
	case 'x':
		res = isxdigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if isupper(cl) {
		return !res
	}
	return res
}

// matchBracketClass matches c against the set pat[p:ec] where pat[p] is
// '[' and pat[ec] is ']'.
func (ms *matchState) matchBracketClass(c, p, ec int) bool {
	sig := true
	if ms.patAt(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		ms.step()
		if ms.pat[p] == '%' {
			p++
			if matchClass(c, int(ms.patAt(p))) {
				return sig
			}
		} else if ms.patAt(p+1) == '-' && p+2 < ec {
			p += 2
			if int(ms.pat[p-2]) <= c && c <= int(ms.pat[p]) {
				return sig
			}
		} else if int(ms.pat[p]) == c {
			return sig
		}
	}
	return !sig
}

func (ms *matchState) singleMatch(c int, p, ep int) bool {
	switch ms.pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, int(ms.patAt(p+1)))
	case '[':
		return ms.matchBracketClass(c, p, ep-1)
	}
	return int(ms.pat[p]) == c
}

func (ms *matchState) matchBalance(s, p int) int {
	if p+1 >= len(ms.pat) {
		ms.fail("unbalanced pattern")
	}
	if s >= len(ms.src) || ms.src[s] != ms.pat[p] {
		return -1
	}
	b, e := ms.pat[p], ms.pat[p+1]
	cont := 1
	for s++; s < len(ms.src); s++ {
		ms.step()
		if ms.src[s] == e {
			cont--
			if cont == 0 {
				return s + 1
			}
		} else if ms.src[s] == b {
			cont++
		}
	}
	return -1
}

func (ms *matchState) maxExpand(s, p, ep int) int {
	i := 0
	for s+i < len(ms.src) && ms.singleMatch(int(ms.src[s+i]), p, ep) {
		ms.step()
		i++
	}
	for ; i >= 0; i-- {
		ms.step()
		if res := ms.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

func (ms *matchState) minExpand(s, p, ep int) int {
	for {
		ms.step()
		if res := ms.match(s, ep+1); res != -1 {
			return res
		}
		if s < len(ms.src) && ms.singleMatch(int(ms.src[s]), p, ep) {
			s++
		} else {
			return -1
		}
	}
}

func (ms *matchState) startCapture(s, p, what int) int {
	level := ms.level
	if level >= maxCaptures {
		ms.fail("too many captures")
	}
	ms.capture[level] = capture{init: s, len: what}
	ms.level = level + 1
	res := ms.match(s, p)
	if res == -1 {
		ms.level--
	}
	return res
}

func (ms *matchState) endCapture(s, p int) int {
	l := ms.captureToClose()
	ms.capture[l].len = s - ms.capture[l].init
	res := ms.match(s, p)
	if res == -1 {
		ms.capture[l].len = capUnfinished
	}
	return res
}

func (ms *matchState) matchCapture(s, l int) int {
	l = ms.checkCapture(l)
	n := ms.capture[l].len
	if len(ms.src)-s >= n && ms.src[ms.capture[l].init:ms.capture[l].init+n] == ms.src[s:s+n] {
		return s + n
	}
	return -1
}

// match returns the end of the match of pat[p:] at src[s:], or -1.
func (ms *matchState) match(s, p int) int {
	ms.depth++
	if ms.depth > maxMatchDepth {
		ms.fail("pattern too complex (nested deeper than %d)", maxMatchDepth)
	}
	defer func() { ms.depth-- }()
	for {
		ms.step()
		if p >= len(ms.pat) {
			return s
		}
		switch ms.pat[p] {
		case '(':
			if ms.patAt(p+1) == ')' {
				return ms.startCapture(s, p+2, capPosition)
			}
			return ms.startCapture(s, p+1, capUnfinished)
		case ')':
			return ms.endCapture(s, p+1)
		case '$':
			if p+1 == len(ms.pat) {
				if s == len(ms.src) {
					return s
				}
				return -1
			}
		case '%':
			switch ms.patAt(p + 1) {
			case 'b':
				s = ms.matchBalance(s, p+2)
				if s == -1 {
					return -1
				}
				p += 4
				continue
			case 'f':
				p += 2
				if ms.patAt(p) != '[' {
					ms.fail("missing '[' after '%%f' in pattern")
				}
				ep := ms.classEnd(p)
				prev, cur := 0, 0
				if s > 0 {
					prev = int(ms.src[s-1])
				}
				if s < len(ms.src) {
					cur = int(ms.src[s])
				}
				if ms.matchBracketClass(prev, p, ep-1) || !ms.matchBracketClass(cur, p, ep-1) {
					return -1
				}
				p = ep
				continue
			default:
				if c := ms.patAt(p + 1); c >= '0' && c <= '9' {
					s = ms.matchCapture(s, int(c))
					if s == -1 {
						return -1
					}
					p += 2
					continue
				}
			}
		}
		// default: a single character class, maybe with a quantifier.
		ep := ms.classEnd(p)
		m := s < len(ms.src) && ms.singleMatch(int(ms.src[s]), p, ep)
		switch ms.patAt(ep) {
		case '?':
			if m {
				if res := ms.match(s+1, ep+1); res != -1 {
					return res
				}
			}
			p = ep + 1
			continue
		case '*':
			return ms.maxExpand(s, p, ep)
		case '+':
			if !m {
				return -1
			}
			return ms.maxExpand(s+1, p, ep)
		case '-':
			return ms.minExpand(s, p, ep)
		}
		if !m {
			return -1
		}
		s++
		p = ep
	}
}

// pushCapture pushes capture i of a match src[s:e].
func (ms *matchState) pushCapture(L *lua.LState, i, s, e int) {
	if i >= ms.level {
		if i != 0 {
			ms.fail("invalid capture index")
		}
		L.Push(lua.LString(ms.src[s:e]))
		return
	}
	c := ms.capture[i]
	switch c.len {
	case capUnfinished:
		ms.fail("unfinished capture")
	case capPosition:
		L.Push(lua.LNumber(c.init + 1))
	default:
		L.Push(lua.LString(ms.src[c.init : c.init+c.len]))
	}
}

// pushCaptures pushes all captures (or the whole match when there are
// none and wholeIfNone) and returns how many.
func (ms *matchState) pushCaptures(L *lua.LState, s, e int, wholeIfNone bool) int {
	n := ms.level
	if n == 0 && wholeIfNone {
		n = 1
	}
	for i := 0; i < n; i++ {
		ms.pushCapture(L, i, s, e)
	}
	return n
}

// strIndex converts a Lua string position (1-based, negative from the end)
// to a 0-based offset clamped to [0, len].
func strIndex(pos, n int) int {
	if pos < 0 {
		pos = n + pos + 1
	}
	if pos < 1 {
		pos = 1
	}
	if pos > n+1 {
		pos = n + 1
	}
	return pos - 1
}

// installPatternFuncs replaces string.find/match/gmatch/gsub with this
// file's bounded versions.
func installPatternFuncs(L *lua.LState, str *lua.LTable, lim limits) {
	wrap := func(name string, fn func(L *lua.LState, ms *matchState) int) {
		str.RawSetString(name, L.NewFunction(func(L *lua.LState) (n int) {
			ms := &matchState{budget: lim.patternSteps + patternStepsPerByte*len(L.CheckString(1)), ctx: L.Context()}
			defer func() {
				if r := recover(); r != nil {
					pe, ok := r.(*patternError)
					if !ok {
						panic(r)
					}
					L.RaiseError("string.%s: %s", name, pe.msg)
				}
			}()
			return fn(L, ms)
		}))
	}
	wrap("find", func(L *lua.LState, ms *matchState) int { return strFind(L, ms, true) })
	wrap("match", func(L *lua.LState, ms *matchState) int { return strFind(L, ms, false) })
	wrap("gsub", func(L *lua.LState, ms *matchState) int { return strGsub(L, ms, lim) })
	gmatch := L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		p := L.CheckString(2)
		it := &gmatchState{src: s, pat: p}
		L.Push(L.NewClosure(func(L *lua.LState) int {
			ms := &matchState{budget: lim.patternSteps + patternStepsPerByte*len(s), ctx: L.Context()}
			defer func() {
				if r := recover(); r != nil {
					pe, ok := r.(*patternError)
					if !ok {
						panic(r)
					}
					L.RaiseError("string.gmatch: %s", pe.msg)
				}
			}()
			return it.next(L, ms)
		}))
		return 1
	})
	str.RawSetString("gmatch", gmatch)
	str.RawSetString("gfind", gmatch)
}

// strFind is string.find (find=true) and string.match.
func strFind(L *lua.LState, ms *matchState, find bool) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	init := strIndex(L.OptInt(3, 1), len(s))
	if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(p, specials)) {
		i := strings.Index(s[init:], p)
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + i + 1))
		L.Push(lua.LNumber(init + i + len(p)))
		return 2
	}
	ms.src = s
	anchor := strings.HasPrefix(p, "^")
	if anchor {
		p = p[1:]
	}
	ms.pat = p
	for s1 := init; ; s1++ {
		ms.level = 0
		if e := ms.match(s1, 0); e != -1 {
			if find {
				L.Push(lua.LNumber(s1 + 1))
				L.Push(lua.LNumber(e))
				return ms.pushCaptures(L, -1, -1, false) + 2
			}
			return ms.pushCaptures(L, s1, e, true)
		}
		if s1 >= len(s) || anchor {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

// gmatchState is a string.gmatch iterator's position.
type gmatchState struct {
	src, pat string
	pos      int
}

func (it *gmatchState) next(L *lua.LState, ms *matchState) int {
	ms.src, ms.pat = it.src, it.pat
	for src := it.pos; src <= len(it.src); src++ {
		ms.level = 0
		if e := ms.match(src, 0); e != -1 {
			newStart := e
			if e == src {
				newStart++
			}
			it.pos = newStart
			return ms.pushCaptures(L, src, e, true)
		}
	}
	it.pos = len(it.src) + 1
	return 0
}

// strGsub is string.gsub with its output bounded by lim.maxString.
func strGsub(L *lua.LState, ms *matchState, lim limits) int {
	src := L.CheckString(1)
	p := L.CheckString(2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction:
	default:
		L.ArgError(3, "string/function/table expected")
	}
	maxN := L.OptInt(4, len(src)+1)
	anchor := strings.HasPrefix(p, "^")
	if anchor {
		p = p[1:]
	}
	ms.src, ms.pat = src, p
	var b strings.Builder
	add := func(s string) {
		if b.Len()+len(s) > lim.maxString {
			ms.fail("result is over the limit of %d bytes", lim.maxString)
		}
		b.WriteString(s)
	}
	n := 0
	s := 0
	for n < maxN {
		ms.level = 0
		e := ms.match(s, 0)
		if e != -1 {
			n++
			gsubValue(L, ms, s, e, repl, add)
		}
		if e != -1 && e > s {
			s = e
		} else if s < len(src) {
			ms.step()
			add(src[s : s+1])
			s++
		} else {
			break
		}
		if anchor {
			break
		}
	}
	add(src[s:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

// gsubValue appends the replacement of match src[s:e].
func gsubValue(L *lua.LState, ms *matchState, s, e int, repl lua.LValue, add func(string)) {
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		rs := lua.LVAsString(r)
		for i := 0; i < len(rs); i++ {
			ms.step()
			j := strings.IndexByte(rs[i:], '%')
			if j < 0 {
				add(rs[i:])
				return
			}
			if j > 0 {
				add(rs[i : i+j])
				i += j
			}
			if i+1 >= len(rs) {
				add(rs[i:])
				return
			}
			i++
			c := rs[i]
			if c < '0' || c > '9' {
				add(rs[i : i+1])
				continue
			}
			if c == '0' {
				add(ms.src[s:e])
				continue
			}
			top := L.GetTop()
			ms.pushCapture(L, int(c-'1'), s, e)
			add(lua.LVAsString(L.Get(-1)))
			L.SetTop(top)
		}
		return
	case *lua.LTable, *lua.LFunction:
		top := L.GetTop()
		var v lua.LValue
		if f, ok := r.(*lua.LFunction); ok {
			L.Push(f)
			nargs := ms.pushCaptures(L, s, e, true)
			L.Call(nargs, 1)
			v = L.Get(-1)
		} else {
			ms.pushCapture(L, 0, s, e)
			v = L.GetTable(r, L.Get(-1))
		}
		L.SetTop(top)
		switch v := v.(type) {
		case *lua.LNilType:
			add(ms.src[s:e])
		case lua.LBool:
			if v {
				L.RaiseError("invalid replacement value (a boolean)")
			}
			add(ms.src[s:e])
		case lua.LString, lua.LNumber:
			add(lua.LVAsString(v))
		default:
			L.RaiseError("invalid replacement value (a %s)", v.Type())
		}
	}
}
