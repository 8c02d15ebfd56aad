package worker

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// newJSONState returns an LState with the json module and its encoder, as
// a pooled worker state has them.
func newJSONState(tb testing.TB, lim limits) (*lua.LState, *jsonEncoder) {
	L := newSandboxState(lim)
	tb.Cleanup(L.Close)
	arrayMT := L.NewTable()
	arrayMT.RawSetString("__metatable", lua.LString("json.array"))
	e := &jsonEncoder{null: L.NewUserData(), arrayMT: arrayMT, max: lim.maxString, budget: lim.jsonBudget}
	openJSON(L, e)
	return L, e
}

// FuzzJSONBridge decodes arbitrary text with json.decode's decoder: no
// input may panic; invalid JSON must be refused; and what decodes must
// encode back to JSON that means the same (per encoding/json) and is a
// fixed point (decode then encode gives the same text again).
func FuzzJSONBridge(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2,{"b":null}],"c":"d"}`, `[]`, `{}`, `[[]]`, `[{}]`, `null`, `true`, `-0`, `0.1`,
		`1e308`, `1e309`, `-1.5e-300`, `9007199254740993`, `"\u00e9\ud83d\ude00"`, `"\ud800"`,
		`{"1":1,"2":2}`, `{"a":1,"a":2}`, `[1,null,3]`, `"<a&b>"`, `" \t\n"`,
		strings.Repeat("[", 101) + strings.Repeat("]", 101), `{"a":1} x`, `[1,]`, `"` + "\xff" + `"`,
	} {
		f.Add(s)
	}
	// One state per fuzzing process: decode keeps nothing in it.
	L, e := newJSONState(f, limitsFor(64<<20))
	f.Fuzz(func(t *testing.T, s string) {
		v, err := e.decode(L, s)
		if err != nil {
			return // refused: invalid, too deep, out of range or too large
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("decoded invalid JSON %q", s)
		}
		out, err := e.toJSON(v)
		if err != nil {
			t.Fatalf("encode of decoded %q: %v", s, err)
		}
		var want, got any
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", s, err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("encoded %q is not JSON: %v", out, err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q decoded and encoded as %q: %#v != %#v", s, out, want, got)
		}
		v2, err := e.decode(L, string(out))
		if err != nil {
			t.Fatalf("decode of encoded %q: %v", out, err)
		}
		out2, err := e.toJSON(v2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("not a fixed point: %q then %q (%v)", out, out2, err)
		}
	})
}

func TestJSON_DecodeStopsAtItsMemoryBudget(t *testing.T) {
	L, e := newJSONState(t, limitsFor(16<<20)) // a 4 MiB budget
	if e.budget != 4<<20 {
		t.Fatalf("budget %d, want a quarter of the memory limit", e.budget)
	}
	for name, s := range map[string]string{
		"numbers": "[" + strings.Repeat("1,", 500_000) + "1]",
		"objects": "[" + strings.Repeat(`{"a":1},`, 100_000) + "{}]",
		"string":  `"` + strings.Repeat("x", 2<<20) + `"`,
	} {
		if _, used, err := e.decodeCounted(L, s); !errors.Is(err, errJSONBudget) || used > e.budget+(8<<20) {
			t.Fatalf("%s: got %v after %d bytes, want errJSONBudget near %d", name, err, used, e.budget)
		}
	}
	// Within the budget, the same shapes decode.
	if _, err := e.decode(L, "["+strings.Repeat(`{"a":1},`, 1000)+"{}]"); err != nil {
		t.Fatal(err)
	}
	// The Lua error says what happened.
	if err := L.DoString(`json.decode("[" .. ("1,"):rep(500000) .. "1]")`); err == nil ||
		!strings.Contains(err.Error(), "json.decode: input too large for the memory limit") {
		t.Fatalf("got %v", err)
	}
}
