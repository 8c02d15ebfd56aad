package cli

import (
	"fmt"
	"strings"
	"testing"
)

// TestE2E_LogsEscapeTerminalSequences: what a function logs, its error and
// the server's error messages reach the terminal with their control
// characters escaped, never as raw escape sequences.
func TestE2E_LogsEscapeTerminalSequences(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	b.ok("deploy", b.script("esc.lua", `function handle(req)
  log.info("title\27]0;pwned\7 clear\27[2J\194\155c end")
  log.info("two\nlines")
  return "ok"
end
`))
	b.ok("deploy", b.script("boom.lua", `function handle(req) error("boom\27[31m red") end`))
	b.ok("invoke", "esc")
	inv := b.cli(nil, "", "invoke", "boom")
	var out string
	eventually(t, "the invocations of esc and boom are listed", func() string {
		r := b.cli(nil, "", "logs", "esc")
		r2 := b.cli(nil, "", "logs", "boom")
		out = r.stdout + r2.stdout
		if r.code != 0 || r2.code != 0 || !strings.Contains(out, "error:") || !strings.Contains(out, "pwned") {
			return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		return ""
	})
	if strings.ContainsAny(out, "\x1b\x07\u009b") {
		t.Fatalf("picloud logs printed raw control characters: %q", out)
	}
	for _, want := range []string{`title\x1b]0;pwned\x07 clear\x1b[2J\x9bc end`, `boom\x1b[31m red`} {
		if !strings.Contains(out, want) {
			t.Fatalf("picloud logs lacks %q: %q", want, out)
		}
	}
	// A multi-line message keeps its lines, each under its own prefix.
	if !strings.Contains(out, "INFO  two\n") || !strings.Contains(out, "INFO  lines\n") {
		t.Fatalf("picloud logs does not lay out a two-line message: %q", out)
	}
	if inv.code != 1 || strings.Contains(inv.stderr, "\x1b") || !strings.Contains(inv.stderr, `boom\x1b[31m red`) {
		t.Fatalf("invoke boom: exit %d, stderr %q: want the error with ESC escaped", inv.code, inv.stderr)
	}
	// --json stays JSON, which escapes control characters itself.
	r := b.cli(nil, "", "logs", "esc", "--json")
	if r.code != 0 || strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, `\u001b]0;pwned`) {
		t.Fatalf("logs --json: exit %d, stdout %q", r.code, r.stdout)
	}
}
