package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// JSON mapping between Lua and JSON, chosen deliberately:
//
//   - An empty table encodes as {} (an object), like lua-cjson. A table
//     marked with json.array(t) encodes as an array, [] when empty; decoded
//     arrays carry that mark, so decode → encode keeps [] as [].
//   - A table whose keys are exactly 1..n encodes as an array; any other
//     table as an object. Number keys of an object become strings ("1");
//     keys of other types (boolean, table, ...) are an error.
//   - nil and json.null encode as null; JSON null decodes as json.null
//     (nil cannot be stored in a table).
//   - NaN and ±Inf cannot be encoded (error). Numbers decode as Lua numbers
//     (float64: integers beyond 2^53 lose precision).
//   - Nesting deeper than maxJSONDepth is an error (this also catches cycles).
//   - Object keys are encoded in sorted order, so output is deterministic.
const maxJSONDepth = 100

var errJSONDepth = fmt.Errorf("nesting deeper than %d (or a cycle)", maxJSONDepth)

// jsonEncoder turns Lua values into JSON for one LState.
type jsonEncoder struct {
	null    *lua.LUserData
	arrayMT *lua.LTable
	max     int // output bound in bytes
}

// encode appends the JSON of v to buf.
func (e *jsonEncoder) encode(buf *bytes.Buffer, v lua.LValue, depth int) error {
	if depth > maxJSONDepth {
		return errJSONDepth
	}
	if buf.Len() > e.max {
		return fmt.Errorf("result is over the limit of %d bytes", e.max)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		buf.WriteString("null")
	case lua.LBool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case lua.LNumber:
		return appendJSONNumber(buf, float64(v))
	case lua.LString:
		writeJSONString(buf, string(v))
	case *lua.LUserData:
		if v == e.null {
			buf.WriteString("null")
			return nil
		}
		return errors.New("cannot encode a userdata")
	case *lua.LTable:
		return e.encodeTable(buf, v, depth)
	default:
		return fmt.Errorf("cannot encode a %s", v.Type())
	}
	return nil
}

func (e *jsonEncoder) encodeTable(buf *bytes.Buffer, t *lua.LTable, depth int) error {
	isArray := t.Metatable == e.arrayMT
	n := t.Len()
	if !isArray && n > 0 {
		// An array if the keys are exactly 1..n.
		count := 0
		t.ForEach(func(lua.LValue, lua.LValue) { count++ })
		isArray = count == n
	}
	if isArray {
		buf.WriteByte('[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				buf.WriteByte(',')
			}
			if err := e.encode(buf, t.RawGetInt(i), depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	type kv struct {
		k string
		v lua.LValue
	}
	var fields []kv
	var keyErr error
	t.ForEach(func(k, v lua.LValue) {
		switch k := k.(type) {
		case lua.LString:
			fields = append(fields, kv{string(k), v})
		case lua.LNumber:
			fields = append(fields, kv{formatLuaNumber(float64(k)), v})
		default:
			if keyErr == nil {
				keyErr = fmt.Errorf("table key of type %s cannot be encoded", k.Type())
			}
		}
	})
	if keyErr != nil {
		return keyErr
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].k < fields[j].k })
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(buf, f.k)
		buf.WriteByte(':')
		if err := e.encode(buf, f.v, depth+1); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

// formatLuaNumber formats a number as Lua's tostring would for the usual
// cases: integers without a fraction.
func formatLuaNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

func appendJSONNumber(buf *bytes.Buffer, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("cannot encode %v", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		buf.WriteString(strconv.FormatInt(int64(f), 10))
		return nil
	}
	buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	return nil
}

// writeJSONString writes s as a JSON string (invalid UTF-8 becomes U+FFFD,
// as encoding/json does).
func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	// encoding/json escapes <, > and & for HTML; keep them readable.
	b = bytes.ReplaceAll(b, []byte(`\u003c`), []byte("<"))
	b = bytes.ReplaceAll(b, []byte(`\u003e`), []byte(">"))
	b = bytes.ReplaceAll(b, []byte(`\u0026`), []byte("&"))
	buf.Write(b)
}

// decodeJSON turns JSON text into a Lua value.
func (e *jsonEncoder) decode(L *lua.LState, s string) (lua.LValue, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return lua.LNil, err
	}
	if dec.More() {
		return lua.LNil, errors.New("invalid character after top-level value")
	}
	return e.toLua(L, v, 0)
}

func (e *jsonEncoder) toLua(L *lua.LState, v any, depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return lua.LNil, errJSONDepth
	}
	switch v := v.(type) {
	case nil:
		return e.null, nil
	case bool:
		return lua.LBool(v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return lua.LNil, fmt.Errorf("number %s is out of range", v)
		}
		return lua.LNumber(f), nil
	case string:
		return lua.LString(v), nil
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, x := range v {
			lv, err := e.toLua(L, x, depth+1)
			if err != nil {
				return lua.LNil, err
			}
			t.Append(lv)
		}
		t.Metatable = e.arrayMT
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, x := range v {
			lv, err := e.toLua(L, x, depth+1)
			if err != nil {
				return lua.LNil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	}
	return lua.LNil, fmt.Errorf("unexpected JSON value %T", v)
}

// toJSON encodes a Lua value for the host (kv values, events, bodies).
func (e *jsonEncoder) toJSON(v lua.LValue) ([]byte, error) {
	var buf bytes.Buffer
	if err := e.encode(&buf, v, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openJSON registers the json module.
func openJSON(L *lua.LState, e *jsonEncoder) {
	mod := L.NewTable()
	mod.RawSetString("null", e.null)
	mod.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		b, err := e.toJSON(L.CheckAny(1))
		if err != nil {
			L.RaiseError("json.encode: %s", err)
		}
		L.Push(lua.LString(b))
		return 1
	}))
	mod.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		v, err := e.decode(L, L.CheckString(1))
		if err != nil {
			L.RaiseError("json.decode: %s", err)
		}
		L.Push(v)
		return 1
	}))
	mod.RawSetString("array", L.NewFunction(func(L *lua.LState) int {
		t := L.OptTable(1, nil)
		if t == nil {
			t = L.NewTable()
		}
		t.Metatable = e.arrayMT
		L.Push(t)
		return 1
	}))
	L.SetGlobal("json", mod)
}
