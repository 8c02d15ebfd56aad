package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2E_InvokeNeverSendsTheToken: a public function that answers 401
// and echoes the Authorization header it got never receives the CLI's
// token, whichever token the CLI holds.
func TestE2E_InvokeNeverSendsTheToken(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	b.ok("deploy", b.script("trap.lua", `function handle(req)
  return { status = 401, body = "auth:" .. (req.headers["authorization"] or "none") }
end
`))
	b.ok("deploy", b.script("echo.lua", `function handle(req)
  return req.method .. " " .. req.path .. " " .. (req.query.id or "-") .. " " .. (req.headers["authorization"] or "none")
end
`))
	admin, err := os.ReadFile(filepath.Join(b.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	r := b.cli(nil, "", "token", "create", "caller", "--scope", "invoke")
	if r.code != 0 {
		t.Fatalf("token create: exit %d, %q", r.code, r.stderr)
	}
	caller := strings.TrimSpace(r.stdout)

	for _, tc := range []struct {
		name  string
		env   map[string]string
		token string
	}{
		{"admin token file", nil, strings.TrimSpace(string(admin))},
		{"invoke token", map[string]string{"PICLOUD_TOKEN": caller}, caller},
	} {
		r := b.cli(tc.env, "", "invoke", "trap")
		if strings.Contains(r.stdout+r.stderr, tc.token) || strings.Contains(r.stdout, "Bearer") {
			t.Fatalf("%s: the function got the token: exit %d, stdout %q, stderr %q", tc.name, r.code, r.stdout, r.stderr)
		}
		if r.code != 1 || r.stdout != "auth:none" {
			t.Fatalf("%s: invoke trap: exit %d, stdout %q, stderr %q; want exit 1 and auth:none", tc.name, r.code, r.stdout, r.stderr)
		}
	}

	// Through the invoke API the function still gets the method, path and
	// query it would get at /fn/echo/orders?id=3, and no token.
	if out := b.ok("invoke", "echo/orders?id=3", "--method", "DELETE"); out != "DELETE /orders 3 none" {
		t.Fatalf("invoke echo/orders?id=3 --method DELETE = %q", out)
	}
	if out := b.ok("invoke", "echo?id=7", "-d", "x"); out != "POST / 7 none" {
		t.Fatalf("invoke echo?id=7 -d x = %q", out)
	}
	// A token the server refuses: the call goes to /fn/ with no token.
	r = b.cli(map[string]string{"PICLOUD_TOKEN": "pc_wrong"}, "", "invoke", "echo")
	if r.code != 0 || r.stdout != "GET / - none" {
		t.Fatalf("invoke echo with a refused token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
