package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestE2E_DeployAllowNetGrantsOutboundHTTP(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "lan") }))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	file := b.script("ha.lua", `function handle(req)
  local ok, r = pcall(http.get, "`+srv.URL+`/")
  if not ok then return "err " .. r end
  return "ok " .. r.body
end
`)
	b.ok("deploy", file)
	b.wantInvoke("ha", "err ha.lua:2: http.request: 127.0.0.1 is a loopback address; allow it with --allow-net "+hostPort)

	out := b.ok("deploy", file, "--allow-net", hostPort+",*.lan")
	if !strings.Contains(out, "allow-net: "+hostPort+",*.lan") && !strings.Contains(out, "allow-net: *.lan,"+hostPort) {
		t.Fatalf("deploy output does not show the grants: %q", out)
	}
	b.wantInvoke("ha", "ok lan")

	// Without --allow-net a new version keeps the grants; '' drops them.
	b.ok("deploy", file)
	b.wantInvoke("ha", "ok lan")
	b.ok("deploy", file, "--allow-net", "")
	b.wantInvoke("ha", "err ha.lua:2: http.request: 127.0.0.1 is a loopback address; allow it with --allow-net "+hostPort)

	r := b.cli(nil, "", "deploy", file, "--allow-net", "10.0.0.0/33")
	if r.code == 0 || !strings.Contains(r.stderr, "deploy ha: --allow-net: allow_net:") {
		t.Fatalf("bad --allow-net: exit %d, stderr %q", r.code, r.stderr)
	}
}
