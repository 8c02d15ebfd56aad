package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/server"
	"github.com/picloud/picloud/store/storetest"
)

// evServer runs server.Run with the events service in-process on
// 127.0.0.1 and returns the CLI environment that reaches it.
func evServer(t *testing.T) map[string]string {
	t.Helper()
	dbURL := storetest.NewDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// The worker binary TestMain built: deploys are validated in it
		// (the test binary cannot serve as `picloud worker`).
		done <- server.Run(ctx, server.Config{Listen: addr, DatabaseURL: dbURL, DataDir: dataDir,
			WorkerPath: filepath.Join(binDir, "picloud-worker"),
			Logger:     hclog.NewNullLogger()})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return map[string]string{envURL: "http://" + addr, envDataDir: dataDir}
}

// runEv runs the CLI with the events commands added (the lead wires them
// into commands()).
func runEv(t *testing.T, ctx context.Context, env map[string]string, args ...string) runResult {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{env: Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }}, cmds: append(commands(), eventsCommands()...)}
	code := a.exitCode(a.dispatch(ctx, args))
	return runResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestEventsCommands_AgainstServer(t *testing.T) {
	t.Parallel()
	env := evServer(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "f.lua")
	if err := os.WriteFile(src, []byte(`function handle(req) return "ok" end`), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(want string, args ...string) string {
		t.Helper()
		r := runEv(t, ctx, env, args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, want) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want %q", args, r.code, r.stdout, r.stderr, want)
		}
		return r.stdout
	}
	must("", "deploy", src, "--name", "f")
	must("trigger 1: f runs on topic orders", "trigger", "add", "f", "--topic", "orders")
	must("runs on dead letters", "trigger", "add", "f", "--dead-letters")
	must("orders", "trigger", "ls")
	must("removed trigger 2", "trigger", "rm", "2")
	if r := runEv(t, ctx, env, "trigger", "add", "f"); r.code != ExitUsage {
		t.Errorf("trigger add without --topic: exit %d", r.code)
	}

	must("schedule 1: f on \"*/5 * * * *\" (Europe/Berlin), next run", "schedule", "add", "f", "*/5 * * * *",
		"--tz", "Europe/Berlin", "--payload", `{"k":1}`)
	if r := runEv(t, ctx, env, "schedule", "add", "f", "*/5 * * *"); r.code != ExitFailure ||
		!strings.Contains(r.stderr, "expected exactly 5 fields") {
		t.Errorf("bad expression: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runEv(t, ctx, env, "schedule", "add", "f", "0 0 30 2 *"); r.code != ExitFailure ||
		!strings.Contains(r.stderr, `cron expression "0 0 30 2 *" never fires: no date matches it (HTTP 400)`) {
		t.Errorf("impossible expression: exit %d, stderr %q", r.code, r.stderr)
	}
	must("schedule 1 disabled", "schedule", "disable", "1")
	must("false", "schedule", "ls")
	must("schedule 1 enabled, next run", "schedule", "enable", "1")
	must("removed schedule 1", "schedule", "rm", "1")

	must("ID", "dlq", "ls")
	if r := runEv(t, ctx, env, "dlq", "retry", "99"); r.code != ExitFailure || !strings.Contains(r.stderr, "not found") {
		t.Errorf("dlq retry of a missing id: exit %d, stderr %q", r.code, r.stderr)
	}

	// Publish on a topic without subscribers, then tail from the start.
	must("published event 1 on audit (0 deliveries)", "events", "publish", "audit", `{"who":"me"}`)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	a := &app{env: Env{Stdin: strings.NewReader(""), Stdout: &lineNotifier{w: &out, line: cancel}, Stderr: &bytes.Buffer{},
		Getenv: func(k string) string { return env[k] }}, cmds: eventsCommands()}
	if err := a.dispatch(tctx, []string{"events", "tail", "--from", "0", "--json", "--topic", "audit"}); err != nil {
		t.Fatalf("tail: %v", err)
	}
	var ev api.StreamEvent
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &ev); err != nil || ev.ID != 1 || ev.Topic != "audit" {
		t.Fatalf("tail printed %q (%v)", out.String(), err)
	}

	// Several payloads are one batch; --file sends a line each, by 1000.
	must("published 3 events 2-4 on audit (0 deliveries)", "events", "publish", "audit", "1", `"two"`, `{"n":3}`)
	lines := filepath.Join(t.TempDir(), "events.jsonl")
	var b strings.Builder
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&b, "{\"i\":%d}\n", i)
		if i == 1200 {
			b.WriteString("\n") // blank lines are skipped
		}
	}
	if err := os.WriteFile(lines, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := must("published 500 events 2005-2504 on audit", "events", "publish", "audit", "--file", lines)
	if !strings.Contains(got, "published 1000 events 5-1004 on audit") || !strings.Contains(got, "published 1000 events 1005-2004") {
		t.Errorf("--file printed %q", got)
	}
	if err := os.WriteFile(lines, []byte("1\n{bad\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runEv(t, ctx, env, "events", "publish", "audit", "--file", lines); r.code != ExitFailure ||
		!strings.Contains(r.stderr, "line 2 is not valid JSON") {
		t.Errorf("--file with a bad line: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runEv(t, ctx, env, "events", "publish", "audit", "1", "{bad"); r.code != ExitUsage ||
		!strings.Contains(r.stderr, "payload 2 is not valid JSON") {
		t.Errorf("a bad payload among several: exit %d, stderr %q", r.code, r.stderr)
	}
}

// lineNotifier calls line after the first complete line is written.
type lineNotifier struct {
	w    *bytes.Buffer
	line func()
}

func (l *lineNotifier) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if bytes.Contains(p, []byte("\n")) {
		l.line()
	}
	return n, err
}

func TestEventsCommands_HelpHasUsageAndExample(t *testing.T) {
	t.Parallel()
	var walk func([]*command)
	walk = func(list []*command) {
		for _, c := range list {
			words := strings.Fields(c.Name)
			r := runEv(t, context.Background(), nil, append(words, "--help")...)
			if r.code != ExitOK || !strings.Contains(r.stdout, "usage: picloud "+c.Name) || !strings.Contains(r.stdout, "Example") {
				t.Errorf("%s --help: exit %d, stdout %q, stderr %q", c.Name, r.code, r.stdout, r.stderr)
			}
			walk(c.Subs)
		}
	}
	walk(eventsCommands())
}
