package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picloud/picloud/api"
)

// invocation reads GET /api/v1/invocations/:id with the admin token.
func (b *e2eBundle) invocation(id string) (api.Invocation, error) {
	tok, err := os.ReadFile(filepath.Join(b.dataDir, "admin.token"))
	if err != nil {
		return api.Invocation{}, err
	}
	req, err := http.NewRequest(http.MethodGet, b.url+"/api/v1/invocations/"+id, nil)
	if err != nil {
		return api.Invocation{}, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return api.Invocation{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.Invocation{}, fmt.Errorf("GET invocation %s: %s", id, resp.Status)
	}
	var inv api.Invocation
	return inv, json.NewDecoder(resp.Body).Decode(&inv)
}

// waitResult waits until the invocation id has finished and checks it
// succeeded with body.
func (b *e2eBundle) waitResult(id, body string) {
	b.t.Helper()
	eventually(b.t, "async invocation "+id, func() string {
		inv, err := b.invocation(id)
		if err != nil {
			return err.Error()
		}
		if inv.Status != api.StatusSucceeded || inv.Result == nil || inv.Result.Body != body {
			return fmt.Sprintf("invocation %+v (result %+v), want succeeded with %q", inv, inv.Result, body)
		}
		return ""
	})
}

func TestE2E_InvokeAsync(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	b.ok("deploy", b.script("later.lua", `function handle(req)
  return "later " .. req.method .. " " .. req.body .. " " .. (req.headers["x-mark"] or "")
end
`))

	// --async prints the invocation id alone; the call runs in the background.
	out := b.ok("invoke", "later", "-d", "one", "--async", "-H", "x-mark:m1")
	id := strings.TrimSpace(out)
	if id == "" || strings.ContainsAny(id, " \n") || out != id+"\n" {
		t.Fatalf("invoke --async printed %q, want the invocation id on one line", out)
	}
	b.waitResult(id, "later POST one m1")

	// --json prints the whole 202 answer.
	var acc api.AsyncAccepted
	b.okJSON(&acc, "invoke", "later", "--async", "--method", "PUT")
	if acc.InvocationID == "" || acc.InvocationID == id || acc.Status != api.StatusQueued {
		t.Fatalf("invoke --async --json = %+v", acc)
	}
	b.waitResult(acc.InvocationID, "later PUT  ")

	// --json is for --async only; an unknown function fails.
	if r := b.cli(nil, "", "invoke", "later", "--json"); r.code != ExitUsage || !strings.Contains(r.stderr, "--async") {
		t.Fatalf("invoke --json without --async: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := b.cli(nil, "", "invoke", "nope", "--async"); r.code != ExitFailure || !strings.Contains(r.stderr, "404") {
		t.Fatalf("invoke --async of a missing function: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
