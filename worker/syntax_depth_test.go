package worker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deepSources are inputs built to make gopher-lua's parser or compiler
// recurse once per byte or token: a megabyte of each killed or stalled
// the server before (fatal "stack overflow" for the unary chain, seconds
// of CPU and hundreds of MB for the others).
func deepSources() map[string]string {
	const n = MaxSourceBytes - 64
	return map[string]string{
		"unary_length": "return " + strings.Repeat("#", n) + "t",
		"unary_minus":  "return " + strings.Repeat("- ", n/2) + "1",
		"unary_not":    "return " + strings.Repeat("not ", n/4) + "x",
		"do_blocks":    strings.Repeat("do ", n/8) + strings.Repeat("end ", n/8),
		"while_blocks": strings.Repeat("while x do ", n/22) + strings.Repeat("end ", n/22),
		"functions":    "f = " + strings.Repeat("function() return ", n/30) + "1" + strings.Repeat(" end", n/30),
		"repeat":       strings.Repeat("repeat ", n/16) + strings.Repeat("until x ", n/16),
		"elseif_chain": "if a then " + strings.Repeat("elseif a then ", n/14) + "end",
		"parens":       "return " + strings.Repeat("(", n/2) + "1" + strings.Repeat(")", n/2),
		"tables":       "return " + strings.Repeat("{", n/2) + strings.Repeat("}", n/2),
		"plus_chain":   "return 1" + strings.Repeat("+1", n/2),
		"concat_chain": "return a" + strings.Repeat("..a", n/3),
		"and_chain":    "return a" + strings.Repeat(" and a", n/6),
		"field_chain":  "return a" + strings.Repeat(".a", n/2),
		"call_chain":   "return a" + strings.Repeat("()", n/2),
		"index_chain":  "return a" + strings.Repeat("[1]", n/3),
		"method_chain": "return a" + strings.Repeat(":b()", n/4),
		"string_calls": "return f" + strings.Repeat(`"x"`, n/3),
		"mixed":        "return " + strings.Repeat("-(", n/4) + "1" + strings.Repeat(")", n/4),
	}
}

func TestValidate_DeepSourcesAreRefusedBeforeParsing(t *testing.T) {
	for name, src := range deepSources() {
		t.Run(name, func(t *testing.T) {
			line, col := syntaxTooDeep(src)
			if line == 0 {
				t.Fatal("the depth scan let it through")
			}
			err := Validate(src)
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != line || se.Column != col || !strings.Contains(se.Message, "nested deeper than 200 levels") {
				t.Fatalf("got %v, want a depth error at %d:%d", err, line, col)
			}
		})
	}
}

func TestSyntaxDepth_CountsWhatNests(t *testing.T) {
	cases := []struct {
		name      string
		src       string
		line, col int // 0, 0: within the limit
	}{
		{"parens_at_limit", "x = " + strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200), 0, 0},
		{"parens_over_limit", "x = " + strings.Repeat("(", 201) + "1" + strings.Repeat(")", 201), 1, 205},
		{"unary_over_limit", "x = " + strings.Repeat("#", 201) + "t", 1, 205},
		{"minus_is_not_a_comment_here", "x = " + strings.Repeat("- ", 201) + "1", 1, 405},
		{"position_on_a_later_line", "local a = 1\n\n  return " + strings.Repeat("#", 300) + "t", 3, 210},
		// Chains end at separators: many short expressions are fine.
		{"many_statements", strings.Repeat("x = a + b * c - d .. e\n", 5000), 0, 0},
		{"many_args", "f(" + strings.Repeat("a + 1, ", 5000) + "1)", 0, 0},
		{"long_table", "t = {" + strings.Repeat("{a = 1, b = {2, 3}}, ", 5000) + "}", 0, 0},
		{"juxtaposed_statements", strings.Repeat("x = a y = b ", 5000), 0, 0},
		{"sequential_blocks", strings.Repeat("do local x = 1 end\n", 5000), 0, 0},
		{"sequential_ifs", strings.Repeat("if a then b() elseif c then d() else e() end\n", 5000), 0, 0},
		{"sequential_functions", strings.Repeat("local function f(a) return a + 1 end\n", 5000), 0, 0},
		// What looks like nesting inside strings and comments is not.
		{"brackets_in_strings", "s = '" + strings.Repeat("(", 300) + "' .. \"" + strings.Repeat("{", 300) + "\"", 0, 0},
		{"long_string", "s = [==[" + strings.Repeat("((do ", 300) + "]] still in ]==]", 0, 0},
		{"comments", "-- " + strings.Repeat("(", 300) + "\n--[[ " + strings.Repeat("do ", 300) + " ]] x = 1", 0, 0},
		{"escaped_quote", `s = "a\"` + strings.Repeat("(", 300) + `"`, 0, 0},
		{"numbers_with_exponents", "x = " + strings.Repeat("1e+5, ", 500) + "2", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line, col := syntaxTooDeep(c.src)
			if line != c.line || col != c.col {
				t.Fatalf("got %d:%d, want %d:%d", line, col, c.line, c.col)
			}
		})
	}
}

// Every example and test script of the repository passes the depth scan.
func TestSyntaxDepth_RealScriptsPass(t *testing.T) {
	paths, err := filepath.Glob("../examples/*.lua")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(string(src)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, a := range escapeAttempts {
		if line, col := syntaxTooDeep(escapeScript(a.code)); line != 0 {
			t.Errorf("escape attempt %s: depth error at %d:%d", a.name, line, col)
		}
	}
}

// A version stored before the limit (it compiled at its deploy) still
// loads: only validation applies the depth limit.
func TestSyntaxDepth_LoadOfAStoredVersionIsNotRefused(t *testing.T) {
	src := "function handle(req) local x = 1 return tostring(x" + strings.Repeat(" + x", 300) + ") end"
	if Validate(src) == nil {
		t.Fatal("validation let a 300-term chain through")
	}
	ts := newTestServer(t, defaultSpec(src))
	if got := ts.body(nil); got != "301" {
		t.Fatalf("got %q", got)
	}
}

// FuzzSyntaxDepth: the scan never panics, points inside the source when it
// refuses, and refuses whatever it refused after more nesting is wrapped
// around it.
func FuzzSyntaxDepth(f *testing.F) {
	for _, s := range []string{
		"function handle(req) return 1 end", "x = [==[ ]] ]==] y = 'a\\'b' -- c\n--[[ d ]] z = 1",
		"if a then elseif b then else end", "repeat until x", "a.b:c(d)[e]{f}\"g\"", "return - - not # x",
		"x = " + strings.Repeat("(", 201), "0x1e+5 .. 1e-5", "--[==[", "[[", "'\\\n'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line, col := syntaxTooDeep(s)
		if line == 0 {
			return
		}
		lines := strings.Split(s, "\n")
		if line > len(lines) || col < 1 || col > len(lines[line-1]) {
			t.Fatalf("position %d:%d is outside the source", line, col)
		}
		if l2, _ := syntaxTooDeep("do " + s + "\nend"); l2 == 0 {
			t.Fatal("refused alone, accepted inside a block")
		}
	})
}
