package cli

import "testing"

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
