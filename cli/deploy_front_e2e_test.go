package cli

import (
	"strings"
	"testing"

	"github.com/picloud/picloud/api"
)

// TestE2E_DeployFrontFlags drives deploy --cors-origin, --rate, --burst,
// --rate-per-ip and --env through the binary: what deploy, versions and
// rollback print, env in Lua, and the flag named in a refusal.
func TestE2E_DeployFrontFlags(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	src := b.script("cfg.lua", `function handle(req) return env.MODE or "unset" end`)
	out := b.ok("deploy", src, "--cors-origin", "https://a.example,https://B.example:8443", "--cors-origin", "https://c.example",
		"--rate", "20/s", "--burst", "40", "--rate-per-ip", "--env", "MODE=live", "--env", "URL=https://x.example/?a=b,c")
	want := "cors: https://a.example,https://b.example:8443,https://c.example; rate: 20/s burst 40 per IP; env: MODE,URL"
	if !strings.Contains(out, want) {
		t.Fatalf("deploy printed %q, want a line %q", out, want)
	}
	b.wantInvoke("cfg", "live")

	b.ok("deploy", src, "--env", "MODE=test", "--rate", "off")
	b.wantInvoke("cfg", "test")
	var vl api.VersionList
	b.okJSON(&vl, "versions", "cfg", "--json")
	if len(vl.Versions) != 2 || vl.Versions[0].Rate != "" || len(vl.Versions[0].CORSOrigins) != 3 ||
		vl.Versions[1].Env["URL"] != "https://x.example/?a=b,c" || !vl.Versions[1].RatePerIP {
		t.Fatalf("versions --json: %+v", vl.Versions)
	}
	if table := b.ok("versions", "cfg"); !strings.Contains(table, "FRONT") || !strings.Contains(table, "rate=20/s burst 40 per IP") {
		t.Fatalf("versions table lacks the front: %q", table)
	}
	if out := b.ok("rollback", "cfg"); !strings.Contains(out, "env: MODE,URL") {
		t.Fatalf("rollback printed %q", out)
	}
	b.wantInvoke("cfg", "live")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cors-origin", "https://a.example/"}, "--cors-origin: cors_origins: origin \"https://a.example/\" is invalid"},
		{[]string{"--rate", "20"}, "--rate: rate: rate \"20\" has no unit"},
		{[]string{"--env", "1X=v"}, "--env: env: key \"1X\" is invalid"},
		{[]string{"--env", "NOEQUALS"}, "--env \"NOEQUALS\": write KEY=VALUE"},
	} {
		r := b.cli(nil, "", append([]string{"deploy", src}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("deploy %v: exit %d, stderr %q; want it to say %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
