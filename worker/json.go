package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

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
	// budget bounds the estimated bytes of the Lua values one decode
	// builds (0: none); see limits.jsonBudget.
	budget int64
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

// Estimated bytes of what json.decode allocates, charged against the
// decode's budget as it reads: upper bounds measured on 64-bit for
// gopher-lua's values (an LTable sized to its contents, an array slot, a
// string-keyed map entry, a boxed number) plus the decoder's pending slices
// and token buffer. A decode fails before it allocates much more than its
// budget.
const (
	jsonArrayCost  = 256 // an array's *LTable and slices
	jsonObjectCost = 768 // an object's *LTable and its smallest map
	jsonArraySlot  = 48  // pending slot, then the table's slot
	jsonHashEntry  = 200 // pending key and value, then the map entry
	jsonScalarCost = 16  // a boxed number
	jsonStringCost = 48  // per string, plus 4 bytes a byte (token buffer, copy)
	// jsonCheckEvery is how many tokens pass between two looks at the
	// call's context, so the heap watch and the deadline stop a decode.
	jsonCheckEvery = 1024
)

// errJSONBudget is json.decode's error when a value would need more memory
// than the call's share of the worker's memory limit.
var errJSONBudget = errors.New("input too large for the memory limit")

// jsonFrame is one open array or object while decoding: its values (and
// keys) until it closes, when its table is made at its final size.
type jsonFrame struct {
	array   bool
	keys    []string
	vals    []lua.LValue
	haveKey bool // an object's key was read, its value not yet
}

// table makes the frame's Lua table.
func (f *jsonFrame) table(L *lua.LState, arrayMT *lua.LTable) *lua.LTable {
	if f.array {
		t := L.CreateTable(len(f.vals), 0)
		for _, v := range f.vals {
			t.Append(v)
		}
		t.Metatable = arrayMT
		return t
	}
	t := L.CreateTable(0, len(f.vals))
	for i, v := range f.vals {
		t.RawSetString(f.keys[i], v)
	}
	return t
}

// decode turns JSON text into a Lua value.
func (e *jsonEncoder) decode(L *lua.LState, s string) (lua.LValue, error) {
	v, _, err := e.decodeCounted(L, s)
	return v, err
}

// decodeCounted is decode, also returning its estimate of the bytes it
// allocated. It builds the value as it reads the tokens (no intermediate
// Go value), without recursion, and charges every value against e.budget:
// past it, the decode fails with errJSONBudget before the worker runs out
// of memory.
func (e *jsonEncoder) decodeCounted(L *lua.LState, s string) (lua.LValue, int64, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var (
		stack  []jsonFrame
		used   int64
		tokens int
	)
	ctx := L.Context()
	for {
		if e.budget > 0 && used > e.budget {
			return lua.LNil, used, errJSONBudget
		}
		if tokens++; tokens%jsonCheckEvery == 0 && ctx != nil && ctx.Err() != nil {
			return lua.LNil, used, context.Cause(ctx)
		}
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return lua.LNil, used, err
		}
		var v lua.LValue
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '[' || tok == '{' {
				if len(stack) > maxJSONDepth {
					return lua.LNil, used, errJSONDepth
				}
				if tok == '[' {
					used += jsonArrayCost
				} else {
					used += jsonObjectCost
				}
				stack = append(stack, jsonFrame{array: tok == '['})
				continue
			}
			// ']' or '}' (Token checks they match).
			v = stack[len(stack)-1].table(L, e.arrayMT)
			stack = stack[:len(stack)-1]
		case string:
			used += jsonStringCost + 4*int64(len(tok))
			if n := len(stack); n > 0 && !stack[n-1].array && !stack[n-1].haveKey {
				stack[n-1].keys = append(stack[n-1].keys, tok)
				stack[n-1].haveKey = true
				continue
			}
			v = lua.LString(tok)
		case json.Number:
			f, err := strconv.ParseFloat(string(tok), 64)
			if err != nil {
				return lua.LNil, used, fmt.Errorf("number %s is out of range", tok)
			}
			used += jsonScalarCost
			v = lua.LNumber(f)
		case bool:
			v = lua.LBool(tok)
		case nil:
			v = e.null
		default:
			return lua.LNil, used, fmt.Errorf("unexpected JSON token %T", tok)
		}
		if e.budget > 0 && used > e.budget {
			return lua.LNil, used, errJSONBudget
		}
		if len(stack) == 0 {
			if _, err := dec.Token(); !errors.Is(err, io.EOF) {
				return lua.LNil, used, errors.New("invalid character after top-level value")
			}
			return v, used, nil
		}
		top := &stack[len(stack)-1]
		if top.array {
			used += jsonArraySlot
		} else {
			used += jsonHashEntry
			top.haveKey = false
		}
		top.vals = append(top.vals, v)
	}
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
