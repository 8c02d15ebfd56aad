package worker

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/picloud/picloud/protocol/wire"
	lua "github.com/yuin/gopher-lua"
)

// Per-call bounds of what a handler can log and emit, and of its kv use.
const (
	maxLogEntries   = 100
	maxLogBytes     = 64 << 10
	maxLogMessage   = 4 << 10
	maxEvents       = 100
	maxEventBytes   = 1 << 20
	maxTopicLen     = 256
	maxKVKeyLen     = 1024
	maxKVValueBytes = 1 << 20
	maxKVList       = 1000
	maxSecretName   = 256
)

// callState is what the host API of one LState needs for the call running
// on it. It is reset for every call, so a call never sees another call's
// request, logs or events.
type callState struct {
	ctx      context.Context
	host     wire.Host
	function string

	logs        []wire.LogEntry
	logBytes    int
	logsDropped int
	events      []wire.Event
	eventBytes  int
	// hostBroken is set when a host call failed in transport: the
	// connection is unusable after this call.
	hostBroken bool
}

// reset prepares the state for a new call.
func (c *callState) reset(ctx context.Context, host wire.Host, function string) {
	*c = callState{ctx: ctx, host: host, function: function}
}

// openHostAPI registers log, events, kv, secrets and http; each reads the current
// call from st.
func openHostAPI(L *lua.LState, st *luaState) {
	openProbe(L) // test builds only (-tags sandboxprobe)
	logMod := L.NewTable()
	for _, level := range []string{"debug", "info", "warn", "error"} {
		logMod.RawSetString(level, L.NewFunction(func(L *lua.LState) int {
			st.log(L, level)
			return 0
		}))
	}
	L.SetGlobal("log", logMod)

	events := L.NewTable()
	events.RawSetString("emit", L.NewFunction(func(L *lua.LState) int {
		topic := L.CheckString(1)
		if topic == "" || len(topic) > maxTopicLen {
			L.ArgError(1, "topic must be 1 to 256 bytes")
		}
		payload, err := st.json.toJSON(L.Get(2))
		if err != nil {
			L.RaiseError("events.emit: %s", err)
		}
		c := &st.call
		if len(c.events) >= maxEvents || c.eventBytes+len(payload) > maxEventBytes {
			L.RaiseError("events.emit: over the limit of %d events or %d bytes per call", maxEvents, maxEventBytes)
		}
		c.eventBytes += len(payload)
		c.events = append(c.events, wire.Event{Topic: topic, Payload: payload})
		return 0
	}))
	L.SetGlobal("events", events)

	kv := L.NewTable()
	kv.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		key := checkKey(L)
		v, found, err := st.host().KVGet(st.call.ctx, st.call.function, key)
		st.hostErr(L, "kv.get", err)
		if !found {
			L.Push(lua.LNil)
			return 1
		}
		lv, err := st.json.decode(L, string(v))
		if err != nil {
			L.RaiseError("kv.get: stored value: %s", err)
		}
		L.Push(lv)
		return 1
	}))
	kv.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		key := checkKey(L)
		v, err := st.json.toJSON(L.CheckAny(2))
		if err != nil {
			L.RaiseError("kv.set: %s", err)
		}
		if len(v) > maxKVValueBytes {
			L.RaiseError("kv.set: value of %d bytes is over the limit of %d", len(v), maxKVValueBytes)
		}
		ttl := L.OptNumber(3, 0)
		if ttl < 0 {
			L.ArgError(3, "ttl must not be negative")
		}
		err = st.host().KVSet(st.call.ctx, st.call.function, key, v, time.Duration(float64(ttl)*float64(time.Second)))
		st.hostErr(L, "kv.set", err)
		return 0
	}))
	kv.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		key := checkKey(L)
		st.hostErr(L, "kv.delete", st.host().KVDelete(st.call.ctx, st.call.function, key))
		return 0
	}))
	kv.RawSetString("incr", L.NewFunction(func(L *lua.LState) int {
		key := checkKey(L)
		delta := L.OptNumber(2, 1)
		if float64(delta) != float64(int64(delta)) {
			L.ArgError(2, "delta must be an integer")
		}
		n, err := st.host().KVIncr(st.call.ctx, st.call.function, key, int64(delta))
		st.hostErr(L, "kv.incr", err)
		L.Push(lua.LNumber(n))
		return 1
	}))
	kv.RawSetString("list", L.NewFunction(func(L *lua.LState) int {
		prefix := L.OptString(1, "")
		limit := L.OptInt(2, 100)
		if limit < 0 || limit > maxKVList {
			L.ArgError(2, "limit must be 0 to 1000")
		}
		list, err := st.host().KVList(st.call.ctx, st.call.function, prefix, limit)
		st.hostErr(L, "kv.list", err)
		out := L.CreateTable(len(list), 0)
		for _, e := range list {
			lv, err := st.json.decode(L, string(e.Value))
			if err != nil {
				L.RaiseError("kv.list: stored value of %q: %s", e.Key, err)
			}
			item := L.CreateTable(0, 2)
			item.RawSetString("key", lua.LString(e.Key))
			item.RawSetString("value", lv)
			out.Append(item)
		}
		out.Metatable = st.json.arrayMT
		L.Push(out)
		return 1
	}))
	L.SetGlobal("kv", kv)

	secrets := L.NewTable()
	secrets.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(1)
		if name == "" || len(name) > maxSecretName {
			L.ArgError(1, "name must be 1 to 256 bytes")
		}
		v, found, err := st.host().SecretGet(st.call.ctx, st.call.function, name)
		st.hostErr(L, "secrets.get", err)
		if !found {
			L.Push(lua.LNil)
		} else {
			L.Push(lua.LString(v))
		}
		return 1
	}))
	L.SetGlobal("secrets", secrets)

	openHTTP(L, st)
	openBlobs(L, st) // hostapi_blobs.go
}

func checkKey(L *lua.LState) string {
	key := L.CheckString(1)
	if key == "" || len(key) > maxKVKeyLen {
		L.ArgError(1, "key must be 1 to 1024 bytes")
	}
	return key
}

// log records one log line of the current call, within the bounds.
func (st *luaState) log(L *lua.LState, level string) {
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte(' ')
		}
		v := L.Get(i)
		if t, ok := v.(*lua.LTable); ok {
			var buf bytes.Buffer
			if err := st.json.encode(&buf, t, 0); err == nil {
				b.Write(buf.Bytes())
				continue
			}
		}
		b.WriteString(v.String())
		if b.Len() > maxLogMessage {
			break
		}
	}
	msg := b.String()
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage] + "…"
	}
	c := &st.call
	if len(c.logs) >= maxLogEntries || c.logBytes+len(msg) > maxLogBytes {
		c.logsDropped++
		return
	}
	c.logBytes += len(msg)
	c.logs = append(c.logs, wire.LogEntry{Time: time.Now(), Level: level, Message: msg})
}

// host returns the current call's host, or a host that refuses everything
// (top-level code at Load time has no host).
func (st *luaState) host() wire.Host {
	if st.call.host == nil {
		return noHost{}
	}
	return st.call.host
}

// hostErr raises a Lua error for a failed host call. A transport failure
// also marks the connection broken.
func (st *luaState) hostErr(L *lua.LState, what string, err error) {
	if err == nil {
		return
	}
	if _, ok := err.(*wire.HostError); !ok {
		if _, ok := err.(*noHostError); !ok {
			st.call.hostBroken = true
		}
	}
	L.RaiseError("%s: %s", what, err)
}
