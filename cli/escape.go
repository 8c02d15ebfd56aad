package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// sanitize returns s safe to print on a terminal: every control character
// (C0, DEL, C1), every Unicode bidirectional control and line separator,
// and every byte that is not UTF-8 is written as an escape (\x1b, \n,
// \u202e, \xff), except the characters in keep. Text from the server
// (log lines, names, payloads, error messages) goes through it before the
// CLI prints it, so a logged "\x1b]52;..." cannot drive the user's
// terminal. --json output needs no such step: JSON escapes control
// characters itself.
func sanitize(s, keep string) string {
	if !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !escapable(r) || strings.ContainsRune(keep, r):
			b.WriteString(s[i : i+size])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// clean is sanitize for text printed on one line (a cell of a listing, a
// name in a message): it escapes newlines and tabs too.
func clean(s string) string { return sanitize(s, "") }

// needsEscape reports whether sanitize has anything to do.
func needsEscape(s, keep string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (escapable(r) && !strings.ContainsRune(keep, r)) {
			return true
		}
		i += size
	}
	return false
}

// escapable: C0, DEL and C1 controls, bidirectional controls (U+061C,
// U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) and U+2028/U+2029.
func escapable(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x2028 && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// escapeJSON makes encoded JSON as safe for a terminal as sanitize makes
// text: encoding/json escapes C0 controls itself but leaves DEL, C1 and the
// bidirectional controls raw, and a json.RawMessage may hold bytes that are
// not UTF-8. Those can only occur inside strings, where \uXXXX (or U+FFFD)
// stands for them, so the result is the same JSON document. Newlines, tabs
// and returns are layout between tokens and stay.
func escapeJSON(b []byte) []byte {
	s := string(b)
	if !needsEscape(s, "\n\r\t") {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case escapable(r) && !strings.ContainsRune("\n\r\t", r):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return out
}
