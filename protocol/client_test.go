package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/protocol/workertest"
	"go.uber.org/goleak"
)

// workerBin is the worker binary and emptyBin an empty Go program, built
// once by TestMain.
var workerBin, emptyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "picloud-protocol-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if workerBin, err = workertest.Build(dir); err == nil {
		emptyBin, err = buildEmpty(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// buildEmpty builds `func main() {}` the way the worker is built.
func buildEmpty(dir string) (string, error) {
	src := filepath.Join(dir, "empty")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module empty\n\ngo 1.26\n"), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "empty-bin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build empty program: %w\n%s", err, out)
	}
	return bin, nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const helloSource = `function handle(req) return "hello" end`

func helloSpec() protocol.FunctionSpec {
	return protocol.FunctionSpec{Name: "hello", Version: 1, Source: helloSource,
		LoadDeadline: time.Now().Add(time.Minute), MemoryBytes: 64 << 20, Concurrency: 2}
}

// in is a call's deadline d from now (the supervisor's decision in
// production).
func in(d time.Duration) time.Time { return time.Now().Add(d) }

func TestClient_DispenseLoadCallEchoStatsClose(t *testing.T) {
	w := workertest.StartT(t, workerBin, helloSpec())
	ctx := ctxT(t)
	info := w.Client.Info()
	if info.PID <= 0 || !strings.HasPrefix(info.SocketPath, info.SocketDir) {
		t.Fatalf("info %+v", info)
	}
	if fi, err := os.Stat(info.SocketDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket dir: %v %v", fi, err)
	}
	resp, err := w.Client.Call(ctx, &protocol.Request{Method: "GET", Path: "/"}, in(10*time.Second), nil)
	if err != nil || string(resp.Body) != "hello" {
		t.Fatalf("call: %+v %v", resp, err)
	}
	echo, err := w.Client.Echo(ctx, []byte("ping"))
	if err != nil || string(echo) != "ping" {
		t.Fatalf("echo: %q %v", echo, err)
	}
	st, err := w.Client.Stats(ctx)
	if err != nil || st.CallsServed != 1 || st.PooledStates != 1 || st.HeapBytes == 0 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if err := w.Client.Load(ctx, helloSpec()); err == nil {
		t.Fatal("a second Load worked")
	}
	w.Client.Close()
	if _, err := os.Stat(info.SocketDir); !os.IsNotExist(err) {
		t.Fatalf("socket dir left after Close: %v", err)
	}
	if _, err := w.Client.Call(ctx, &protocol.Request{}, in(10*time.Second), nil); !errors.Is(err, protocol.ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
}

func TestClient_ContextEndsBeforeWorkerAnswers(t *testing.T) {
	spec := helloSpec()
	spec.Source = `function handle(req) if req.path == "/ok" then return "ok" end while true do end end`
	spec.Concurrency = 1
	w := workertest.StartT(t, workerBin, spec)
	// The worker's own timeout is 10s; the caller gives up at once.
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := w.Client.Call(ctx, &protocol.Request{}, in(10*time.Second), nil)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// The abandoned call still runs in the worker; the next call gets a
	// new connection and a fresh Lua state.
	resp, err := w.Client.Call(ctxT(t), &protocol.Request{Path: "/ok"}, in(10*time.Second), nil)
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("next call: %+v %v", resp, err)
	}
}

func TestClient_CallDeadlineIsTheWorkerTimeout(t *testing.T) {
	spec := helloSpec()
	spec.Source = `function handle(req) while true do end end`
	w := workertest.StartT(t, workerBin, spec)
	// The caller's context has no deadline: the worker ends the call at
	// the deadline in the call frame, and reports it.
	_, err := w.Client.Call(ctxT(t), &protocol.Request{}, in(300*time.Millisecond), nil)
	var ce *protocol.CallError
	if !errors.As(err, &ce) || ce.Kind != protocol.KindTimeout {
		t.Fatalf("got %v, want a timeout CallError", err)
	}
}

func TestClient_CallWithoutDeadlineIsRefused(t *testing.T) {
	w := workertest.StartT(t, workerBin, helloSpec())
	_, err := w.Client.Call(ctxT(t), &protocol.Request{}, time.Time{}, nil)
	if err == nil || !strings.Contains(err.Error(), "no deadline") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

func TestClient_ScriptErrorAtLoadIsCallError(t *testing.T) {
	spec := helloSpec()
	spec.Source = "function handle(req)\n  return 1 +\nend"
	_, err := workertest.Start(ctxT(t), workerBin, spec, nil)
	var ce *protocol.CallError
	if !errors.As(err, &ce) || ce.Kind != protocol.KindScript {
		t.Fatalf("got %v", err)
	}
}
