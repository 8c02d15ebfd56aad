package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSanitize_EscapesControlCharactersOnly(t *testing.T) {
	for _, tc := range []struct {
		name, in, keep, want string
	}{
		{"plain text is unchanged", "hello, wörld — ok", "", "hello, wörld — ok"},
		{"escape sequence", "a\x1b[31mred\x1b]52;c;Zm9v\x07", "", `a\x1b[31mred\x1b]52;c;Zm9v\x07`},
		{"C0 and DEL", "\x00\x01\x7f", "", `\x00\x01\x7f`},
		{"C1 as a rune", "x\u009bA", "", `x\x9bA`},
		{"invalid UTF-8 byte", "\xff\xe1", "", `\xff\xe1`},
		{"newline, tab, return on one line", "a\nb\tc\rd", "", `a\nb\tc\rd`},
		{"newline kept when asked", "a\nb\x1b", "\n", "a\nb\\x1b"},
		{"bidi override", "abc\u202edef", "", `abc\u202edef`},
		{"backslash stays", `C:\dir`, "", `C:\dir`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sanitize(tc.in, tc.keep); got != tc.want {
				t.Fatalf("sanitize(%q, %q) = %q, want %q", tc.in, tc.keep, got, tc.want)
			}
			if again := sanitize(sanitize(tc.in, tc.keep), tc.keep); again != tc.want {
				t.Fatalf("sanitize is not idempotent: %q", again)
			}
		})
	}
}

func TestEscapeJSON_SameDocumentWithoutRawControls(t *testing.T) {
	in := map[string]any{"msg": "del\x7f c1\u009b[2J bidi\u202e esc\x1b", "n": 1}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out := escapeJSON(b)
	if strings.ContainsAny(string(out), "\x7f\u009b\u202e\x1b") {
		t.Fatalf("raw control characters left: %q", out)
	}
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("not JSON any more: %v: %s", err, out)
	}
	if back["msg"] != in["msg"] {
		t.Fatalf("decoded %q, want %q", back["msg"], in["msg"])
	}
	if !strings.Contains(string(out), "\n  ") {
		t.Fatalf("the indentation went: %q", out)
	}
	if raw := json.RawMessage("{\"a\":\"\xff\"}"); !json.Valid(escapeJSON(raw)) {
		t.Fatalf("invalid UTF-8 in a raw message stays invalid: %q", escapeJSON(raw))
	}
}
