package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picloud/picloud/api"
)

// runResult is what one in-process run printed and returned.
type runResult struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process with the given environment variables only.
func run(t *testing.T, env map[string]string, stdin string, args ...string) runResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	}, args)
	return runResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// allCommands lists the name words of every runnable command.
func allCommands() [][]string {
	var out [][]string
	var walk func([]*command)
	walk = func(list []*command) {
		for _, c := range list {
			out = append(out, strings.Fields(c.Name))
			walk(c.Subs)
		}
	}
	walk(commands())
	return out
}

func TestHelp_EveryCommandPrintsUsageAndExample(t *testing.T) {
	t.Parallel()
	for _, words := range allCommands() {
		t.Run(strings.Join(words, "_"), func(t *testing.T) {
			t.Parallel()
			for _, h := range []string{"--help", "-h"} {
				r := run(t, nil, "", append(words, h)...)
				if r.code != ExitOK {
					t.Fatalf("%v %s: exit %d, stderr %q", words, h, r.code, r.stderr)
				}
				if words[0] == "worker" {
					continue // hidden: one line of explanation
				}
				_, example, ok := strings.Cut(r.stdout, "\nExample:\n")
				if !strings.HasPrefix(r.stdout, "usage: picloud "+strings.Join(words, " ")) || !ok ||
					!strings.Contains(example, "picloud "+words[0]) {
					t.Errorf("%v %s: no usage line or example:\n%s", words, h, r.stdout)
				}
			}
		})
	}
}

func TestHelp_TopLevelListsVisibleCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := run(t, nil, "", args...)
		if r.code != ExitOK {
			t.Fatalf("%v: exit %d", args, r.code)
		}
		for _, c := range commands() {
			listed := strings.Contains(r.stdout, "\n  "+c.Name+" ")
			if listed == c.Hidden {
				t.Errorf("%v: command %q listed=%v, hidden=%v:\n%s", args, c.Name, listed, c.Hidden, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "token create|ls|revoke") {
			t.Errorf("token subcommands not listed:\n%s", r.stdout)
		}
	}
	r := run(t, nil, "", "help", "deploy")
	if r.code != ExitOK || !strings.Contains(r.stdout, "usage: picloud deploy FILE.lua") {
		t.Fatalf("help deploy: exit %d, %q", r.code, r.stdout)
	}
}

func TestUsageErrors_ExitTwoWithAHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"deplyo"}, `unknown command "deplyo" (did you mean "deploy"?)`},
		{"unknown command hints help", []string{"frobnicate"}, "Run 'picloud --help'"},
		{"deploy without file", []string{"deploy"}, "missing FILE.lua"},
		{"deploy unknown flag", []string{"deploy", "x.lua", "--memroy", "1G"}, "flag provided but not defined: -memroy"},
		{"deploy size without unit", []string{"deploy", "x.lua", "--memory", "64"}, "no unit: write 64MiB"},
		{"deploy bad duration", []string{"deploy", "x.lua", "--timeout", "10"}, "no unit: write 10s"},
		{"deploy stdin without name", []string{"deploy", "-"}, "--name is required"},
		{"two files", []string{"deploy", "a.lua", "b.lua"}, `unexpected argument "b.lua"`},
		{"invoke without name", []string{"invoke"}, "missing NAME"},
		{"invoke bad header", []string{"invoke", "x", "-H", "nocolon"}, "write it as NAME:VALUE"},
		{"logs bad count", []string{"logs", "x", "-n", "-1"}, "-n must be between"},
		{"token without sub", []string{"token"}, "missing subcommand"},
		{"token unknown sub", []string{"token", "craete"}, `unknown subcommand "craete" (did you mean "create"?)`},
		{"token create without scope", []string{"token", "create", "ci"}, "missing --scope"},
		{"token create bad scope", []string{"token", "create", "ci", "--scope", "invoke,root"}, `unknown scope "root"`},
		{"secrets set without name", []string{"secrets", "set"}, "missing NAME"},
		{"rollback negative", []string{"rollback", "x", "--version", "-2"}, "--version must be"},
		{"serve without database", []string{"serve"}, "no database"},
		{"migrate without database", []string{"migrate"}, "no database"},
		{"ls extra argument", []string{"ls", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, "", tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("stderr %q lacks %q", r.stderr, tt.want)
			}
		})
	}
}

func TestServe_BadEnvironmentValueIsAUsageError(t *testing.T) {
	t.Parallel()
	r := run(t, map[string]string{"DATABASE_URL": "postgres://x", "PICLOUD_MAX_BODY": "6"}, "", "serve")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "PICLOUD_MAX_BODY") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersion_PrintsVersionAndGo(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "picloud "+Version+" (go") {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, nil, "", "version", "--json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] != Version {
		t.Fatalf("version --json: %q, %v", r.stdout, err)
	}
}

// closedURL returns the URL of a 127.0.0.1 port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestClient_UnreachableServerSaysWhatToDo(t *testing.T) {
	t.Parallel()
	u := closedURL(t)
	r := run(t, map[string]string{"PICLOUD_URL": u, "PICLOUD_TOKEN": "pc_x"}, "", "ls")
	want := fmt.Sprintf("cannot reach PiCloud at %s — is `picloud serve` running?", u)
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
}

// apiServer answers every request with status and body, recording the
// Authorization header it saw.
func apiServer(t *testing.T, status int, body any) (*httptest.Server, *string) {
	t.Helper()
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &auth
}

func TestClient_RejectedTokenNamesItsSource(t *testing.T) {
	t.Parallel()
	srv, auth := apiServer(t, http.StatusUnauthorized, api.ErrorBody{Error: "invalid token", Code: api.CodeUnauthorized})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("pc_fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := run(t, map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_DATA_DIR": dir}, "", "ls")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "the server rejected the token: set PICLOUD_TOKEN or check "+filepath.Join(dir, "admin.token")) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if *auth != "Bearer pc_fromfile" {
		t.Fatalf("Authorization = %q, want the token of the file", *auth)
	}
	if strings.Contains(r.stderr, "pc_fromfile") {
		t.Fatal("the token was printed")
	}

	r = run(t, map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_DATA_DIR": dir, "PICLOUD_TOKEN": "pc_fromenv"}, "", "ls")
	if !strings.Contains(r.stderr, "check PICLOUD_TOKEN") || *auth != "Bearer pc_fromenv" {
		t.Fatalf("stderr %q, Authorization %q", r.stderr, *auth)
	}

	r = run(t, map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_DATA_DIR": t.TempDir()}, "", "ls")
	if !strings.Contains(r.stderr, "no token: set PICLOUD_TOKEN") && !strings.Contains(r.stderr, "/var/lib/picloud") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestClient_APIErrorShowsServerMessage(t *testing.T) {
	t.Parallel()
	srv, _ := apiServer(t, http.StatusNotFound, api.ErrorBody{Error: `no function named "nope"`, Code: api.CodeNotFound})
	r := run(t, map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_TOKEN": "pc_x"}, "", "versions", "nope")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `no function named "nope" (HTTP 404)`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	srv, _ = apiServer(t, http.StatusForbidden, api.ErrorBody{Error: "this token lacks the deploy scope", Code: api.CodeForbidden})
	r = run(t, map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_TOKEN": "pc_x"}, "", "rm", "x")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "lacks the deploy scope") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDeploy_SyntaxErrorPointsAtTheFile(t *testing.T) {
	t.Parallel()
	srv, _ := apiServer(t, http.StatusUnprocessableEntity, api.ErrorBody{Error: "unexpected symbol near 'end'", Code: api.CodeSyntaxError, Line: 3, Column: 1})
	file := filepath.Join(t.TempDir(), "bad.lua")
	if err := os.WriteFile(file, []byte("function handle(\nend\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_TOKEN": "pc_x"}, "", "deploy", file)
	if r.code != ExitFailure || !strings.Contains(r.stderr, file+":3:1: unexpected symbol") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
