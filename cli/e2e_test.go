package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/store/storetest"
)

// e2eBundle is a running `picloud serve` and how to drive the CLI binary
// against it.
type e2eBundle struct {
	t       *testing.T
	bin     string
	url     string
	dataDir string
	work    string // scratch directory for scripts
}

// syncBuffer is a bytes.Buffer safe for a subprocess and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer migrates a fresh database with `picloud migrate`, starts
// `picloud serve` on it and waits until /readyz answers 200.
func startServer(t *testing.T) *e2eBundle {
	t.Helper()
	return startServerFrom(t, filepath.Join(binDir, "picloud"))
}

// startServerFrom is startServer with the picloud binary at bin.
func startServerFrom(t *testing.T, bin string) *e2eBundle {
	t.Helper()
	dbURL := storetest.NewEmptyDB(t)
	b := &e2eBundle{
		t:       t,
		bin:     bin,
		dataDir: t.TempDir(),
		work:    t.TempDir(),
	}

	// migrate: from nothing to the latest version, then nothing to do.
	r := b.cli(map[string]string{"DATABASE_URL": dbURL}, "", "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "schema migrated from version 0 to") {
		t.Fatalf("migrate: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = b.cli(nil, "", "migrate", "--database-url", dbURL)
	if r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("migrate again: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// picloud serve tells systemd it is ready through NOTIFY_SOCKET; the
	// test listens there like systemd does.
	notifyPath := filepath.Join(t.TempDir(), "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen for sd_notify: %v", err)
	}
	states := make(chan string, 16)
	go func() {
		defer close(states)
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			states <- string(buf[:n])
		}
	}()
	// Registered before the node's: runs after the node has stopped.
	t.Cleanup(func() {
		notify.Close()
		stopping := false
		for s := range states {
			stopping = stopping || s == "STOPPING=1"
		}
		if !stopping {
			t.Errorf("picloud serve did not send STOPPING=1 to NOTIFY_SOCKET")
		}
	})

	n := e2etest.Start(t, e2etest.Config{DatabaseURL: dbURL, DataDir: b.dataDir, Bin: bin,
		Args: []string{"--shutdown-timeout", "10s"}, Env: []string{"NOTIFY_SOCKET=" + notifyPath}})
	b.url = n.URL
	select {
	case s := <-states:
		if s != "READY=1" {
			t.Fatalf("picloud serve sent %q to NOTIFY_SOCKET, want READY=1", s)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("picloud serve sent nothing to NOTIFY_SOCKET after 2m")
	}
	resp, err := http.Get(b.url + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz after READY=1: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz after READY=1: %s", resp.Status)
	}
	return b
}

// cli runs the picloud binary against the server with the admin token of
// the data directory; env entries override (an empty value unsets).
func (b *e2eBundle) cli(env map[string]string, stdin string, args ...string) runResult {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = b.environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			b.t.Fatalf("run picloud %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return runResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func (b *e2eBundle) environ(env map[string]string) []string {
	base := map[string]string{"PICLOUD_URL": b.url, "PICLOUD_DATA_DIR": b.dataDir}
	for k, v := range env {
		base[k] = v
	}
	out := e2etest.Environ()
	for k, v := range base {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// ok runs the CLI and fails the test unless it exits 0.
func (b *e2eBundle) ok(args ...string) string {
	b.t.Helper()
	r := b.cli(nil, "", args...)
	if r.code != 0 {
		b.t.Fatalf("picloud %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs the CLI with --json and decodes its output into v.
func (b *e2eBundle) okJSON(v any, args ...string) {
	b.t.Helper()
	out := b.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		b.t.Fatalf("picloud %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// script writes a Lua file into the scratch directory.
func (b *e2eBundle) script(name, src string) string {
	b.t.Helper()
	p := filepath.Join(b.work, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// eventually retries check until it returns "" or the generous deadline
// passes (for what the server does in the background, like writing
// invocation records in batches).
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 60s: %s", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantInvoke expects `picloud invoke NAME` to print want, allowing the
// server a moment to switch versions.
func (b *e2eBundle) wantInvoke(name, want string) {
	b.t.Helper()
	eventually(b.t, "invoke "+name, func() string {
		r := b.cli(nil, "", "invoke", name)
		if r.code != 0 || r.stdout != want {
			return fmt.Sprintf("exit %d, stdout %q (want %q), stderr %q", r.code, r.stdout, want, r.stderr)
		}
		return ""
	})
}

const helloV1 = `function handle(req)
  log.info("hello v1 called with " .. req.method .. " " .. (req.body or ""))
  return "hello v1"
end
`

const helloV2 = `function handle(req)
  log.info("hello v2 called")
  return "hello v2"
end
`

func TestE2E_FunctionLifecycle(t *testing.T) {
	t.Parallel()
	b := startServer(t)

	// deploy: the name comes from the file, flags may follow the file.
	hello := b.script("hello.lua", helloV1)
	out := b.ok("deploy", hello, "--timeout", "5s")
	if !strings.Contains(out, "created hello version 1") || !strings.Contains(out, "URL: "+b.url+"/fn/hello") {
		t.Fatalf("deploy output: %q", out)
	}
	b.wantInvoke("hello", "hello v1")
	if out := b.ok("invoke", "hello", "-d", "ping"); out != "hello v1" {
		t.Fatalf("invoke -d: %q", out)
	}

	out = b.ok("ls")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "hello") || !strings.Contains(out, "/fn/hello") {
		t.Fatalf("ls: %q", out)
	}
	var fl api.FunctionList
	b.okJSON(&fl, "ls")
	if len(fl.Functions) != 1 || fl.Functions[0].Name != "hello" || fl.Functions[0].Version != 1 ||
		time.Duration(fl.Functions[0].Limits.Timeout) != 5*time.Second {
		t.Fatalf("ls --json: %+v", fl)
	}

	// A new version, from stdin, with a limit; the timeout is kept.
	r := b.cli(nil, helloV2, "deploy", "-", "--memory", "128MiB", "--name", "hello")
	if r.code != 0 || !strings.Contains(r.stdout, "deployed hello version 2") {
		t.Fatalf("deploy v2: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	b.wantInvoke("hello", "hello v2")
	var vl api.VersionList
	b.okJSON(&vl, "versions", "hello")
	if len(vl.Versions) != 2 || vl.Versions[0].Version != 2 || !vl.Versions[0].Current ||
		vl.Versions[0].Limits.Memory != 128<<20 || time.Duration(vl.Versions[0].Limits.Timeout) != 5*time.Second {
		t.Fatalf("versions --json: %+v", vl)
	}
	if out := b.ok("versions", "hello"); !strings.Contains(out, "VERSION") || !strings.Contains(out, "128MiB") {
		t.Fatalf("versions: %q", out)
	}

	// rollback defaults to the previous version.
	if out := b.ok("rollback", "hello"); !strings.Contains(out, "hello: version 1 is current") {
		t.Fatalf("rollback: %q", out)
	}
	b.wantInvoke("hello", "hello v1")
	var f api.Function
	b.okJSON(&f, "rollback", "hello", "--version", "2")
	if f.Version != 2 {
		t.Fatalf("rollback --version 2 --json: %+v", f)
	}
	b.wantInvoke("hello", "hello v2")
	b.ok("rollback", "hello", "--version", "1")
	b.wantInvoke("hello", "hello v1")

	// logs: the records are written in batches, so wait for them.
	eventually(t, "logs lists the calls", func() string {
		r := b.cli(nil, "", "logs", "hello", "-n", "50", "--json")
		var il api.InvocationList
		if err := json.Unmarshal([]byte(r.stdout), &il); r.code != 0 || err != nil {
			return fmt.Sprintf("exit %d, %v, %q", r.code, err, r.stderr)
		}
		for _, inv := range il.Invocations {
			for _, l := range inv.Logs {
				if strings.Contains(l.Message, "hello v1 called with POST ping") {
					return ""
				}
			}
		}
		return fmt.Sprintf("no invocation logged the POST: %+v", il.Invocations)
	})
	// The records are written in batches, in order: a last call with a
	// marker of its own is a barrier; once its record is listed, every
	// earlier call's is too, or logs -f -n 0 would rightly show it as new.
	barrier := fmt.Sprintf("barrier-%d", time.Now().UnixNano())
	b.ok("invoke", "hello", "-d", barrier)
	eventually(t, "the barrier call is recorded", func() string {
		r := b.cli(nil, "", "logs", "hello", "-n", "1", "--json")
		var il api.InvocationList
		if err := json.Unmarshal([]byte(r.stdout), &il); r.code != 0 || err != nil {
			return fmt.Sprintf("exit %d, %v, %q", r.code, err, r.stderr)
		}
		if len(il.Invocations) != 1 || len(il.Invocations[0].Logs) == 0 || !strings.Contains(il.Invocations[0].Logs[0].Message, barrier) {
			return fmt.Sprintf("newest record: %+v", il.Invocations)
		}
		return ""
	})
	out = b.ok("logs", "hello")
	if !strings.Contains(out, "hello v1 called with POST ping") || !strings.Contains(out, "INFO") || !strings.Contains(out, "hello v") {
		t.Fatalf("logs: %q", out)
	}

	// logs -f prints a call made after it started.
	follow := b.followLogs("hello")
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	b.ok("invoke", "hello", "-d", marker)
	before := follow.waitFor(t, marker)
	follow.stop(t)
	// -n 0: only the new call, none of the earlier ones.
	if len(before) != 1 || !strings.Contains(before[0], "hello v1  http POST /") {
		t.Fatalf("logs -f -n 0 printed other invocations before the new one: %q", before)
	}

	// A function error exits 1 with the server's message.
	b.ok("deploy", b.script("boom.lua", `function handle(req) error("boom here") end`))
	eventually(t, "invoke boom fails", func() string {
		r := b.cli(nil, "", "invoke", "boom")
		if r.code != 1 || !strings.Contains(r.stderr, "boom here") || !strings.Contains(r.stderr, "HTTP 500") {
			return fmt.Sprintf("exit %d, stderr %q", r.code, r.stderr)
		}
		return ""
	})
	eventually(t, "logs shows the failure", func() string {
		r := b.cli(nil, "", "logs", "boom", "--status", api.StatusFailed, "--json")
		var il api.InvocationList
		if err := json.Unmarshal([]byte(r.stdout), &il); r.code != 0 || err != nil {
			return fmt.Sprintf("exit %d, %v, %q", r.code, err, r.stderr)
		}
		if len(il.Invocations) == 0 || !strings.Contains(il.Invocations[0].Error, "boom here") {
			return fmt.Sprintf("no failed invocation with the error: %+v", il.Invocations)
		}
		return ""
	})
	if out := b.ok("logs", "boom"); !strings.Contains(out, "error: ") || !strings.Contains(out, "boom here") {
		t.Fatalf("logs boom: %q", out)
	}
	// A non-2xx answer of the function: body on stdout, status on stderr.
	b.ok("deploy", b.script("nope.lua", `function handle(req) return { status = 404, body = "nothing here" } end`))
	r = b.cli(nil, "", "invoke", "nope/some/path?x=1")
	if r.code != 1 || r.stdout != "nothing here" || !strings.Contains(r.stderr, "HTTP 404") {
		t.Fatalf("invoke nope: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	// A syntax error names the file and line.
	bad := b.script("bad.lua", "function handle(req)\n  return (\nend\n")
	r = b.cli(nil, "", "deploy", bad)
	if r.code != 1 || !strings.Contains(r.stderr, bad+":") {
		t.Fatalf("deploy bad.lua: exit %d, %q", r.code, r.stderr)
	}
	// A limit out of range names the flag.
	r = b.cli(nil, "", "deploy", hello, "--memory", "4GiB")
	if r.code != 1 || !strings.Contains(r.stderr, "memory") {
		t.Fatalf("deploy --memory 4GiB: exit %d, %q", r.code, r.stderr)
	}

	// rm: gone from ls, and /fn/hello is a 404.
	if out := b.ok("rm", "hello"); !strings.Contains(out, "deleted hello") {
		t.Fatalf("rm: %q", out)
	}
	eventually(t, "invoke after rm", func() string {
		r := b.cli(nil, "", "invoke", "hello")
		if r.code != 1 || !strings.Contains(r.stderr, "404") {
			return fmt.Sprintf("exit %d, %q", r.code, r.stderr)
		}
		return ""
	})
	b.okJSON(&fl, "ls")
	for _, f := range fl.Functions {
		if f.Name == "hello" {
			t.Fatalf("hello still listed after rm: %+v", fl)
		}
	}
	r = b.cli(nil, "", "rm", "hello")
	if r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Fatalf("rm twice: exit %d, %q", r.code, r.stderr)
	}
	r = b.cli(nil, "", "logs", "no-such-fn")
	if r.code != 1 || !strings.Contains(r.stderr, `no function named "no-such-fn"`) {
		t.Fatalf("logs of an unknown function: exit %d, %q", r.code, r.stderr)
	}
}

// follower is a running `picloud logs NAME -f`.
type follower struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

func (b *e2eBundle) followLogs(name string) *follower {
	b.t.Helper()
	cmd := exec.Command(b.bin, "logs", name, "-f", "-n", "0", "--interval", "200ms")
	cmd.Env = b.environ(nil)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	// It says on stderr when it has taken note of what exists and follows.
	var stderr syncBuffer
	following := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			fmt.Fprintln(&stderr, sc.Text())
			if strings.HasPrefix(sc.Text(), "following new invocations") {
				close(following)
			}
		}
	}()
	f := &follower{cmd: cmd, lines: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
		close(f.lines)
		f.done <- cmd.Wait()
	}()
	b.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if b.t.Failed() {
			b.t.Logf("logs -f stderr: %s", stderr.String())
		}
	})
	select {
	case <-following:
	case <-time.After(90 * time.Second):
		b.t.Fatalf("logs -f did not start following within 90s: %s", stderr.String())
	}
	return f
}

// waitFor reads the follower's output up to a line with marker and
// returns the lines before it.
func (f *follower) waitFor(t *testing.T, marker string) []string {
	t.Helper()
	timeout := time.After(90 * time.Second)
	var before []string
	for {
		select {
		case l, ok := <-f.lines:
			if !ok {
				t.Fatalf("logs -f ended before printing %q: %v", marker, <-f.done)
			}
			if strings.Contains(l, marker) {
				return before
			}
			before = append(before, l)
		case <-timeout:
			t.Fatalf("logs -f did not print %q within 90s", marker)
		}
	}
}

// stop interrupts the follower, which must end with status 0.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	_ = f.cmd.Process.Signal(os.Interrupt)
	for range f.lines {
	}
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("logs -f after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not stop within 30s of SIGINT")
	}
}

func TestE2E_Tokens(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	b.ok("deploy", b.script("priv.lua", `function handle(req) return "secret stuff" end`), "--private")
	b.ok("deploy", b.script("pub.lua", `function handle(req) return req.headers["authorization"] or "no auth header" end`))

	// create: the secret alone on stdout, the warning on stderr.
	r := b.cli(nil, "", "token", "create", "caller", "--scope", "invoke")
	if r.code != 0 || !strings.Contains(r.stderr, "will not be shown again") {
		t.Fatalf("token create: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	secret := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(secret, "pc_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q, want one secret", r.stdout)
	}
	var tc api.TokenCreated
	b.okJSON(&tc, "token", "create", "reader", "--scope", "read")
	if tc.Name != "reader" || tc.Secret == "" || len(tc.Scopes) != 1 || tc.Scopes[0] != "read" {
		t.Fatalf("token create --json: %+v", tc)
	}

	out := b.ok("token", "ls")
	for _, want := range []string{"NAME", "caller", "invoke", "reader"} {
		if !strings.Contains(out, want) {
			t.Fatalf("token ls lacks %q: %q", want, out)
		}
	}
	if strings.Contains(out, secret) {
		t.Fatal("token ls printed a secret")
	}
	var tl api.TokenList
	b.okJSON(&tl, "token", "ls")
	if len(tl.Tokens) < 3 { // admin, caller, reader
		t.Fatalf("token ls --json: %+v", tl)
	}

	// The invoke token calls the private function but cannot list.
	asCaller := map[string]string{"PICLOUD_TOKEN": secret}
	eventually(t, "invoke priv with the invoke token", func() string {
		r := b.cli(asCaller, "", "invoke", "priv")
		if r.code != 0 || r.stdout != "secret stuff" {
			return fmt.Sprintf("exit %d, %q, %q", r.code, r.stdout, r.stderr)
		}
		return ""
	})
	r = b.cli(asCaller, "", "ls")
	if r.code != 1 || !strings.Contains(r.stderr, "not allowed") {
		t.Fatalf("ls with an invoke token: exit %d, %q", r.code, r.stderr)
	}
	r = b.cli(map[string]string{"PICLOUD_TOKEN": tc.Secret}, "", "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "priv") {
		t.Fatalf("ls with a read token: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	// Without a token the private function refuses; a public one never
	// sees the CLI's token.
	noToken := map[string]string{"PICLOUD_DATA_DIR": t.TempDir()}
	r = b.cli(noToken, "", "invoke", "priv")
	if r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Fatalf("invoke priv without a token: exit %d, %q", r.code, r.stderr)
	}
	if out := b.ok("invoke", "pub"); out != "no auth header" {
		t.Fatalf("a public function saw the token: %q", out)
	}
	// A wrong token says where it came from, and is never printed.
	r = b.cli(map[string]string{"PICLOUD_TOKEN": "pc_wrong"}, "", "ls")
	if r.code != 1 || !strings.Contains(r.stderr, "the server rejected the token") || strings.Contains(r.stderr, "pc_wrong") {
		t.Fatalf("ls with a wrong token: exit %d, %q", r.code, r.stderr)
	}

	// revoke: the token stops working.
	if out := b.ok("token", "revoke", "caller"); !strings.Contains(out, "revoked token caller") {
		t.Fatalf("token revoke: %q", out)
	}
	eventually(t, "the revoked token is refused", func() string {
		r := b.cli(asCaller, "", "invoke", "priv")
		if r.code != 1 || !strings.Contains(r.stderr, "401") {
			return fmt.Sprintf("exit %d, %q, %q", r.code, r.stdout, r.stderr)
		}
		return ""
	})
	b.okJSON(&tl, "token", "ls")
	for _, tok := range tl.Tokens {
		if tok.Name == "caller" {
			t.Fatalf("revoked token still listed: %+v", tl)
		}
	}
}

func TestE2E_Secrets(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	r := b.cli(nil, "", "secrets", "ls")
	if r.code != 0 && strings.Contains(r.stderr, "404") {
		t.Skip("the server has no /api/v1/secrets route yet")
	}
	b.ok("deploy", b.script("greet.lua", `function handle(req) return secrets.get("greeting") or "none" end`), "--secrets", "greeting")
	r = b.cli(nil, "top-secret-value\n", "secrets", "set", "greeting")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "top-secret-value") {
		t.Fatalf("secrets set: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	b.wantInvoke("greet", "top-secret-value")
	out := b.ok("secrets", "ls")
	if !strings.Contains(out, "greeting") || strings.Contains(out, "top-secret-value") {
		t.Fatalf("secrets ls: %q", out)
	}
	var sl api.SecretList
	b.okJSON(&sl, "secrets", "ls")
	if len(sl.Secrets) != 1 || sl.Secrets[0].Name != "greeting" {
		t.Fatalf("secrets ls --json: %+v", sl)
	}
	b.ok("secrets", "set", "greeting", "second")
	b.wantInvoke("greet", "second")
	b.ok("secrets", "rm", "greeting")
	b.wantInvoke("greet", "none")
}

func TestE2E_BinaryBasics(t *testing.T) {
	t.Parallel()
	b := &e2eBundle{t: t, bin: filepath.Join(binDir, "picloud"), dataDir: t.TempDir(), url: closedURL(t)}

	if out := b.ok("version"); !strings.HasPrefix(out, "picloud "+testVersion+" (go") {
		t.Fatalf("version: %q", out)
	}
	r := b.cli(nil, "", "ls")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach PiCloud at "+b.url+" — is `picloud serve` running?") {
		t.Fatalf("unreachable: exit %d, %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"bogus"}, {"deploy"}, {"invoke", "x", "--nope"}, {}} {
		if r := b.cli(nil, "", args...); r.code != 2 || !strings.Contains(r.stderr, "picloud") {
			t.Fatalf("picloud %v: exit %d, %q", args, r.code, r.stderr)
		}
	}
	for _, words := range allCommands() {
		r := b.cli(nil, "", append(words, "--help")...)
		if r.code != 0 || (words[0] != "worker" && !strings.HasPrefix(r.stdout, "usage: picloud "+strings.Join(words, " "))) {
			t.Fatalf("picloud %v --help: exit %d, %q", words, r.code, r.stdout)
		}
	}
	if r := b.cli(nil, "", "--help"); r.code != 0 || !strings.Contains(r.stdout, "deploy") {
		t.Fatalf("--help: exit %d, %q", r.code, r.stdout)
	}
}

func TestE2E_WorkerSubcommandWithoutCompanionBinary(t *testing.T) {
	t.Parallel()
	// Only picloud, no picloud-worker beside it: the supervisor re-executes
	// picloud with the hidden worker command.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(binDir, "picloud"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "picloud")
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	b := startServerFrom(t, bin)
	b.ok("deploy", b.script("solo.lua", `function handle(req) return "from picloud worker" end`))
	b.wantInvoke("solo", "from picloud worker")

	// By hand it refuses, without a handshake.
	if r := b.cli(nil, "", "worker"); r.code == 0 || !strings.Contains(r.stderr, "not meant to be run by hand") {
		t.Fatalf("picloud worker by hand: exit %d, %q", r.code, r.stderr)
	}
	if out := b.ok("--help"); strings.Contains(out, "\n  worker ") {
		t.Fatalf("the hidden worker command is listed:\n%s", out)
	}
}
