package e2e

import (
	"strings"
	"testing"
)

// Issue 14 item 1: a deploy token must not be able to kill serve with a
// source built to overflow the Lua compiler's stack (a megabyte of unary
// operators: "fatal error: stack overflow" took the whole server down) or
// to burn its CPU (deeply nested blocks). The depth scan refuses them with
// a position, in a validator process, and serve answers the next request.
func TestServe_DeepSourcesAreRefusedAndServeSurvives(t *testing.T) {
	hh := need(t)
	deployer := hh.token(t, "deep-deployer", "deploy")
	const n = 1<<20 - 64
	for name, src := range map[string]string{
		"unary operator chain": "return " + strings.Repeat("#", n) + "t",
		"nested do blocks":     strings.Repeat("do ", n/8) + strings.Repeat("end ", n/8),
		"nested elseif chain":  "function handle(req)\n  if a then " + strings.Repeat("elseif a then ", n/14-2) + "end\nend",
	} {
		t.Run(name, func(t *testing.T) {
			r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: deployer,
				Body: map[string]any{"name": "deep", "source": src}})
			msg, code := r.errorBody(t)
			var eb struct{ Line, Column int }
			r.JSON(t, &eb)
			if r.Status != 422 || code != "syntax_error" || eb.Line < 1 || eb.Column < 1 ||
				!strings.Contains(msg, "nested deeper than 200 levels") {
				t.Errorf("got %d %s", r.Status, r.Body)
			}
			hh.alive(t)
		})
	}
	// A normal deploy still works, and reports syntax errors with their
	// position.
	hh.deploy(t, map[string]any{"name": "deep", "source": "function handle(req) return \"ok\" end"})
	r := hh.do(t, req{Method: "PUT", Path: "/api/v1/functions/deep", Token: deployer,
		Body: map[string]any{"source": "function handle(req)\n  return (1\nend\n"}})
	var eb struct{ Line, Column int }
	r.JSON(t, &eb)
	if r.Status != 422 || eb.Line != 3 {
		t.Errorf("syntax error: %d %s, want 422 at line 3", r.Status, r.Body)
	}
}
