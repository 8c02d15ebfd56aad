package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/protocol/workertest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func subprocessSpec(source string) protocol.FunctionSpec {
	return protocol.FunctionSpec{Name: "hello", Version: 1, Source: source,
		LoadDeadline: time.Now().Add(time.Minute), MemoryBytes: 64 << 20, Concurrency: 4}
}

// in returns the deadline of a call given d: in production the supervisor
// decides it from the function's timeout.
func in(d time.Duration) time.Time { return time.Now().Add(d) }

func TestSubprocess_HelloRoundTrip(t *testing.T) {
	t.Parallel()
	w := workertest.StartT(t, workerBin, subprocessSpec(
		`function handle(req) return "hello " .. (req.query.name or "world") .. " " .. req.headers["x-a"] end`))
	resp, err := w.Client.Call(testCtx(t), &protocol.Request{Method: "GET", Path: "/",
		Query: map[string][]string{"name": {"pi", "x"}}, Headers: map[string]string{"X-A": "b"}}, in(10*time.Second), nil)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if resp.Status != 200 || string(resp.Body) != "hello pi b" || resp.Headers["content-type"] != "text/plain; charset=utf-8" {
		t.Fatalf("got %d %q %v", resp.Status, resp.Body, resp.Headers)
	}
	info := w.Client.Info()
	t.Logf("sandbox: %s", info.Sandbox)
	if underQEMU() {
		return // qemu-user installs no seccomp filter or Landlock ruleset for the guest
	}
	if !strings.Contains(info.Sandbox, "seccomp allow-list") || !strings.Contains(info.Sandbox, "no_new_privs") {
		t.Fatalf("sandbox not applied: %s", info.Sandbox)
	}
}

// underQEMU is set by scripts/test-arm.sh: tests run under qemu-user.
func underQEMU() bool { return os.Getenv("PICLOUD_UNDER_QEMU") == "1" }

func TestSubprocess_HostCallsEventsAndLogs(t *testing.T) {
	t.Parallel()
	w := workertest.StartT(t, workerBin, subprocessSpec(`
function handle(req)
  kv.set("a", {n = 1, list = json.array()})
  kv.set("b", "two", 60)
  local n = kv.incr("hits")
  n = kv.incr("hits", 41)
  local listed = kv.list("")
  local keys = {}
  for _, e in ipairs(listed) do keys[#keys + 1] = e.key end
  kv.delete("b")
  log.info("hits", n)
  log.warn({k = "v"})
  events.emit("user.created", {id = 7})
  return {
    a = kv.get("a"), b = kv.get("b") or json.null, hits = n,
    keys = table.concat(keys, ","), secret = secrets.get("token"), missing = secrets.get("nope"),
  }
end`))
	host := protocol.NewMemoryHost()
	host.SetSecret("hello", "token", "s3cret")
	resp, err := w.Client.Call(testCtx(t), &protocol.Request{Method: "POST", Path: "/"}, in(10*time.Second), host)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	want := `{"a":{"list":[],"n":1},"b":null,"hits":42,"keys":"a,b,hits","secret":"s3cret"}`
	if string(resp.Body) != want || resp.Headers["content-type"] != "application/json" {
		t.Fatalf("body %s, want %s (%v)", resp.Body, want, resp.Headers)
	}
	if len(resp.Logs) != 2 || resp.Logs[0].Level != "info" || resp.Logs[0].Message != "hits 42" || resp.Logs[1].Message != `{"k":"v"}` {
		t.Fatalf("logs: %+v", resp.Logs)
	}
	if len(resp.Events) != 1 || resp.Events[0].Topic != "user.created" || string(resp.Events[0].Payload) != `{"id":7}` {
		t.Fatalf("events: %+v", resp.Events)
	}
	// Host data is scoped to the function name the client loaded.
	if v, found, _ := host.KVGet(context.Background(), "hello", "hits"); !found || string(v) != "42" {
		t.Fatalf("kv hits = %s, %v", v, found)
	}
}

func TestSubprocess_ConcurrentCalls(t *testing.T) {
	t.Parallel()
	w := workertest.StartT(t, workerBin, subprocessSpec(`
function handle(req)
  local n = tonumber(req.query.n)
  kv.incr("calls")
  local s = 0
  for i = 1, n do s = s + i end
  return tostring(s)
end`))
	host := protocol.NewMemoryHost()
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				n := g*100 + i
				resp, err := w.Client.Call(ctx, &protocol.Request{Path: "/", Query: map[string][]string{"n": {fmt.Sprint(n)}}}, in(10*time.Second), host)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprint(n * (n + 1) / 2); string(resp.Body) != want {
					errs <- fmt.Errorf("n=%d: got %s, want %s", n, resp.Body, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _, _ := host.KVGet(ctx, "hello", "calls"); string(v) != "400" {
		t.Fatalf("calls = %s, want 400", v)
	}
	st, err := w.Client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.CallsServed != 400 || st.PooledStates < 1 || st.PooledStates > 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubprocess_TimeoutThenNextCallWorks(t *testing.T) {
	t.Parallel()
	spec := subprocessSpec(`function handle(req) if req.path == "/loop" then while true do end end return "ok" end`)
	w := workertest.StartT(t, workerBin, spec)
	ctx := testCtx(t)
	_, err := w.Client.Call(ctx, &protocol.Request{Path: "/loop"}, in(200*time.Millisecond), nil)
	var ce *protocol.CallError
	if !errors.As(err, &ce) || ce.Kind != protocol.KindTimeout || ce.Message != "timed out: the call ran past its deadline" {
		t.Fatalf("got %v, want a timeout CallError", err)
	}
	resp, err := w.Client.Call(ctx, &protocol.Request{Path: "/"}, in(10*time.Second), nil)
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("next call: %v %v", resp, err)
	}
}

func TestSubprocess_MemoryBombThenNextCallWorks(t *testing.T) {
	t.Parallel()
	spec := subprocessSpec(`
function handle(req)
  if req.path == "/bomb" then
    local t = {}
    for i = 1, 1e8 do t[i] = {i, i, i} end
  end
  return "ok"
end`)
	spec.MemoryBytes = 32 << 20
	w := workertest.StartT(t, workerBin, spec)
	ctx := testCtx(t)
	_, err := w.Client.Call(ctx, &protocol.Request{Path: "/bomb"}, in(60*time.Second), nil)
	var ce *protocol.CallError
	if !errors.As(err, &ce) || ce.Kind != protocol.KindMemory || ce.Message != "memory limit of 32 MiB exceeded" {
		t.Fatalf("got %v, want a memory CallError", err)
	}
	resp, err := w.Client.Call(ctx, &protocol.Request{Path: "/"}, in(10*time.Second), nil)
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("next call: %v %v", resp, err)
	}
	st, err := w.Client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the bomb: %+v", st)
}

// blockingHost blocks KVGet until released, telling the test it entered.
type blockingHost struct {
	*protocol.MemoryHost
	entered chan struct{}
	release chan struct{}
}

func (h *blockingHost) KVGet(ctx context.Context, fn, key string) ([]byte, bool, error) {
	close(h.entered)
	<-h.release
	return h.MemoryHost.KVGet(ctx, fn, key)
}

func TestSubprocess_KilledMidCallIsATransportError(t *testing.T) {
	t.Parallel()
	w := workertest.StartT(t, workerBin, subprocessSpec(`function handle(req) kv.get("x") while true do end end`))
	host := &blockingHost{MemoryHost: protocol.NewMemoryHost(), entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := w.Client.Call(testCtx(t), &protocol.Request{Path: "/"}, in(10*time.Second), host)
		done <- err
	}()
	<-host.entered
	if err := syscall.Kill(w.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(host.release)
	err := <-done
	var ce *protocol.CallError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("got %v, want a transport error", err)
	}
	t.Logf("transport error: %v", err)
}

func TestSubprocess_CompileErrorAtLoad(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, err := workertest.Start(ctx, workerBin, subprocessSpec("function handle(req)\n  return 1 +\nend\n"), nil)
	var ce *protocol.CallError
	if !errors.As(err, &ce) || ce.Kind != protocol.KindScript || !strings.Contains(ce.Message, "line 3") {
		t.Fatalf("got %v, want a script CallError at line 3", err)
	}
	_, err = workertest.Start(ctx, workerBin, subprocessSpec("x = 1"), nil)
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "does not define a function handle(req)") {
		t.Fatalf("got %v, want a missing handle error", err)
	}
}

// The subset of the escape table run through a real worker: one worker,
// each attempt behind its own path, then /ok must still answer.
func TestSubprocess_EscapeAttemptsFailAndWorkerKeepsServing(t *testing.T) {
	t.Parallel()
	names := map[string]bool{
		"io_open": true, "os_execute": true, "os_exit": true, "os_getenv": true, "require": true,
		"loadstring_bytecode": true, "dofile": true, "debug_getregistry": true, "getfenv": true,
		"string_metatable_get": true, "coroutine": true, "string_rep_bomb": true, "format_width_bomb": true,
		"gsub_backtracking_bomb": true, "table_concat_bomb": true, "unpack_huge": true, "deep_recursion": true,
		"string_byte_huge": true, "registry_overflow_in_vm": true, "infinite_loop": true, "print": true,
		"collectgarbage": true,
	}
	var b strings.Builder
	b.WriteString("local attempts = {}\n")
	var chosen []escapeAttempt
	for _, a := range escapeAttempts {
		if names[a.name] {
			chosen = append(chosen, a)
			fmt.Fprintf(&b, "attempts[%q] = function()\n%s\nend\n", "/"+a.name, a.code)
		}
	}
	b.WriteString("function handle(req)\n  if req.path == \"/ok\" then return \"ok\" end\n  return attempts[req.path]()\nend\n")
	spec := subprocessSpec(b.String())
	w := workertest.StartT(t, workerBin, spec)
	ctx := testCtx(t)
	for _, a := range chosen {
		_, err := w.Client.Call(ctx, &protocol.Request{Path: "/" + a.name}, in(300*time.Millisecond), nil)
		var ce *protocol.CallError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: got %v, want a CallError", a.name, err)
		}
		// Through the subprocess the per-call timeout is short for every
		// attempt, so a slow limit may show up as a timeout instead.
		if ce.Kind != a.kind && ce.Kind != protocol.KindTimeout && a.kind != kindLimit {
			t.Fatalf("%s: got %s error %q, want %s", a.name, ce.Kind, ce.Message, a.kind)
		}
		resp, err := w.Client.Call(ctx, &protocol.Request{Path: "/ok"}, in(10*time.Second), nil)
		if err != nil || string(resp.Body) != "ok" {
			t.Fatalf("%s: next call: %v %v", a.name, resp, err)
		}
	}
}

func TestWorkerMain_StartedByHandExplainsAndFails(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(workerBin)
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("got %v, want exit status 2", err)
	}
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n"); lines != 0 || !strings.Contains(string(out), "not meant to be run by hand") {
		t.Fatalf("output %q, want one explaining line", out)
	}
}

// runSandboxHelper runs this test binary as a sandboxed helper process
// and returns what it reported.
func runSandboxHelper(t *testing.T, mode string) map[string]string {
	if underQEMU() {
		t.Skip("qemu-user cannot install seccomp filters (ENOSYS) or Landlock rulesets for the guest")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), sandboxHelperEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("helper said:\n%s", out)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			got[k] = v
		}
	}
	return got
}

func TestProcessSandbox_DeniesExecSocketsAndFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	got := runSandboxHelper(t, dir)
	if v := got["exec"]; v != "operation not permitted" && v != "permission denied" {
		t.Errorf("exec: %q, want denied (seccomp EPERM or Landlock EACCES)", v)
	}
	if got["tcp_listen"] != "operation not permitted" {
		t.Errorf("tcp listen: %q, want operation not permitted", got["tcp_listen"])
	}
	// The socket directory is for listing and removing the sockets made
	// before the sandbox: no new file, device or fifo.
	for _, k := range []string{"write_socket_dir", "mknod_char_socket_dir", "mknod_fifo_socket_dir"} {
		if v := got[k]; v == "allowed" {
			t.Errorf("%s: allowed, want denied", k)
		}
	}
	if strings.Contains(got["summary"], "landlock abi") && got["read_etc"] != "permission denied" {
		t.Errorf("read /etc with landlock: %q, want permission denied", got["read_etc"])
	}
}

func TestProcessSandbox_SeccompAloneDeniesExecAndSockets(t *testing.T) {
	t.Parallel()
	got := runSandboxHelper(t, "seccomp-only")
	if got["exec"] != "operation not permitted" {
		t.Errorf("exec: %q, want operation not permitted", got["exec"])
	}
	if got["tcp_listen"] != "operation not permitted" {
		t.Errorf("tcp listen: %q, want operation not permitted", got["tcp_listen"])
	}
}

// A descriptor the worker's parent left open without close-on-exec (as a
// shell or service manager may leave one to serve) is closed by the
// worker before anything else, and the report lists only its own.
func TestSubprocess_InheritedDescriptorIsClosed(t *testing.T) {
	if underQEMU() {
		t.Skip("qemu-user keeps descriptors of its own")
	}
	secret := t.TempDir() + "/inherited"
	if err := os.WriteFile(secret, []byte("inherited secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(secret, syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	w := workertest.StartT(t, workerBin, subprocessSpec(`function handle(req) return "ok" end`))
	syscall.Close(fd)
	rep := w.Client.Info().SandboxReport
	if rep == nil {
		t.Fatal("no sandbox report")
	}
	t.Logf("fds: %q, inherited closed: %d", rep.FDs, rep.InheritedFDsClosed)
	if rep.InheritedFDsClosed < 1 {
		t.Errorf("inherited descriptors closed: %d, want at least 1", rep.InheritedFDsClosed)
	}
	for _, f := range rep.FDs {
		if strings.HasSuffix(f, secret) {
			t.Errorf("the worker still holds %s", f)
		}
	}
}
