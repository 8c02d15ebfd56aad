package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/picloud/picloud/api"
)

// readerSrc answers the secret named by the request body, or "nil".
const readerSrc = `function handle(req)
  local v = secrets.get(req.body)
  if v == nil then return "nil" end
  return v
end
`

// readSecret invokes fn with the secret name as body through the real
// server and worker.
func (b *e2eBundle) readSecret(env map[string]string, fn, name string) runResult {
	b.t.Helper()
	return b.cli(env, "", "invoke", fn, "-d", name)
}

// wantSecret expects fn to read name as want (eventually: a deploy or a
// rollback reaches the worker pool on the next call).
func (b *e2eBundle) wantSecret(fn, name, want string) {
	b.t.Helper()
	eventually(b.t, fmt.Sprintf("%s reads %s", fn, name), func() string {
		r := b.readSecret(nil, fn, name)
		if r.code != 0 || r.stdout != want {
			return fmt.Sprintf("exit %d, stdout %q (want %q), stderr %q", r.code, r.stdout, want, r.stderr)
		}
		return ""
	})
}

// wantNotGranted expects secrets.get(name) from fn to fail with the error
// that names the secret and --secrets, and never to show a value.
func (b *e2eBundle) wantNotGranted(fn, name string, values ...string) {
	b.t.Helper()
	eventually(b.t, fmt.Sprintf("%s is refused %s", fn, name), func() string {
		r := b.readSecret(nil, fn, name)
		for _, v := range values {
			if strings.Contains(r.stdout+r.stderr, v) {
				b.t.Fatalf("%s read the value of %s: %q %q", fn, name, r.stdout, r.stderr)
			}
		}
		want := fmt.Sprintf("secret %q is not granted to function %s", name, fn)
		if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--secrets "+name) {
			return fmt.Sprintf("exit %d, stdout %q, stderr %q (want the error %q)", r.code, r.stdout, r.stderr, want)
		}
		return ""
	})
}

func TestE2E_SecretsAreGrantedPerFunctionVersion(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	b.ok("secrets", "set", "ALPHA", "alpha-value")
	b.ok("secrets", "set", "BETA", "beta-value")
	file := b.script("reader.lua", readerSrc)

	// v1 is granted ALPHA only.
	out := b.ok("deploy", file, "--secrets", "ALPHA")
	if !strings.Contains(out, "secrets: ALPHA") {
		t.Fatalf("deploy output does not show the grants: %q", out)
	}
	b.wantSecret("reader", "ALPHA", "alpha-value")
	b.wantNotGranted("reader", "BETA", "beta-value")
	// No existence oracle: a secret that does not exist reads the same.
	b.wantNotGranted("reader", "NO_SUCH_SECRET")

	// Another function, deployed without --secrets, reads nothing.
	b.ok("deploy", b.script("other.lua", readerSrc))
	b.wantNotGranted("other", "ALPHA", "alpha-value")

	// v2 is granted BETA (and a secret not set yet: nil, not an error).
	b.ok("deploy", file, "--secrets", "BETA,LATER")
	b.wantSecret("reader", "BETA", "beta-value")
	b.wantSecret("reader", "LATER", "nil")
	b.wantNotGranted("reader", "ALPHA", "alpha-value")

	// A redeploy without --secrets keeps the current grants.
	b.ok("deploy", file)
	b.wantSecret("reader", "BETA", "beta-value")

	var vl api.VersionList
	b.okJSON(&vl, "versions", "reader")
	if len(vl.Versions) != 3 || strings.Join(vl.Versions[2].Secrets, ",") != "ALPHA" ||
		strings.Join(vl.Versions[0].Secrets, ",") != "BETA,LATER" {
		t.Fatalf("versions --json does not show the grants: %+v", vl)
	}
	if table := b.ok("versions", "reader"); !strings.Contains(table, "SECRETS") || !strings.Contains(table, "BETA,LATER") {
		t.Fatalf("versions does not show the grants:\n%s", table)
	}

	// A rollback to v1 restores v1's grants.
	out = b.ok("rollback", "reader", "--version", "1")
	if !strings.Contains(out, "secrets: ALPHA") {
		t.Fatalf("rollback output does not show the grants: %q", out)
	}
	b.wantSecret("reader", "ALPHA", "alpha-value")
	b.wantNotGranted("reader", "BETA", "beta-value")
	var f api.Function
	b.okJSON(&f, "rollback", "reader", "--version", "3")
	if strings.Join(f.Secrets, ",") != "BETA,LATER" {
		t.Fatalf("rollback --json: %+v", f)
	}
	b.wantSecret("reader", "BETA", "beta-value")

	// --secrets '' grants none.
	b.ok("deploy", file, "--secrets", "")
	b.wantNotGranted("reader", "BETA", "beta-value")
}

func TestE2E_SecretsNeedTheSecretsScope(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	b.ok("secrets", "set", "TARGET", "original")
	deployTok := strings.TrimSpace(b.ok("token", "create", "ci", "--scope", "deploy,read"))
	asDeploy := map[string]string{"PICLOUD_TOKEN": deployTok}

	// A deploy token can neither overwrite nor delete a secret.
	r := b.cli(asDeploy, "", "secrets", "set", "TARGET", "overwritten")
	if r.code == 0 || !strings.Contains(r.stderr, "not allowed") || !strings.Contains(r.stderr, "lacks the secrets scope") {
		t.Fatalf("secrets set with a deploy token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = b.cli(asDeploy, "", "secrets", "rm", "TARGET")
	if r.code == 0 || !strings.Contains(r.stderr, "lacks the secrets scope") {
		t.Fatalf("secrets rm with a deploy token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	// It can still list the names (read).
	if r := b.cli(asDeploy, "", "secrets", "ls"); r.code != 0 || !strings.Contains(r.stdout, "TARGET") {
		t.Fatalf("secrets ls with a read token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	// A deploy token cannot grant itself a secret: deploying code that
	// reads TARGET would read it as surely as overwriting it.
	file := b.script("reader.lua", readerSrc)
	r = b.cli(asDeploy, "", "deploy", file, "--secrets", "TARGET")
	if r.code == 0 || !strings.Contains(r.stderr, "lacks the secrets scope") || !strings.Contains(r.stderr, "TARGET") {
		t.Fatalf("deploy --secrets with a deploy token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	// A token with the secrets scope sets and deletes secrets.
	secretsTok := strings.TrimSpace(b.ok("token", "create", "vault", "--scope", "secrets"))
	asSecrets := map[string]string{"PICLOUD_TOKEN": secretsTok}
	if r := b.cli(asSecrets, "", "secrets", "set", "TARGET", "rotated"); r.code != 0 {
		t.Fatalf("secrets set with a secrets token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := b.cli(asSecrets, "", "secrets", "set", "SCRATCH", "x"); r.code != 0 {
		t.Fatalf("secrets set with a secrets token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := b.cli(asSecrets, "", "secrets", "rm", "SCRATCH"); r.code != 0 {
		t.Fatalf("secrets rm with a secrets token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	// Once an admin granted TARGET, the deploy token may redeploy keeping
	// the grant (or narrowing it), but not roll back to wider grants.
	b.ok("deploy", file, "--secrets", "TARGET")
	b.wantSecret("reader", "TARGET", "rotated")
	if r := b.cli(asDeploy, "", "deploy", file); r.code != 0 || !strings.Contains(r.stdout, "secrets: TARGET") {
		t.Fatalf("redeploy with a deploy token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := b.cli(asDeploy, "", "deploy", file, "--secrets", ""); r.code != 0 || !strings.Contains(r.stdout, "secrets: none") {
		t.Fatalf("narrowing deploy with a deploy token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = b.cli(asDeploy, "", "rollback", "reader")
	if r.code == 0 || !strings.Contains(r.stderr, "lacks the secrets scope") {
		t.Fatalf("widening rollback with a deploy token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	b.wantNotGranted("reader", "TARGET", "rotated")
	b.ok("rollback", "reader") // admin may
	b.wantSecret("reader", "TARGET", "rotated")
}
