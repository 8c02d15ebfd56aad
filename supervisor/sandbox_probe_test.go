//go:build linux

package supervisor

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/protocol"
)

// buildProbeWorker builds the worker with the sandbox probe
// (worker/sandbox_probe.go): a Lua global sandbox_probe(name, arg) making
// native escape attempts, as a script could after a memory-safety bug in
// gopher-lua. CGO_ENABLED=0, as the release build.
func buildProbeWorker(t *testing.T) string {
	t.Helper()
	// Executable by the workers' own uid, as /usr/bin is.
	dir, err := os.MkdirTemp("", "picloud-probe-bin-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "picloud-worker-probe")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-tags", "sandboxprobe", "-o", bin, "github.com/picloud/picloud/cmd/picloud-worker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe worker: %v\n%s", err, out)
	}
	return bin
}

// probeTargets are what serve's side of the machine offers an escaped
// worker: a descriptor serve inherited from its parent (opened without
// O_CLOEXEC), a 0600 file of serve's uid (a fake admin.token), and a unix
// socket anyone may connect to (like PostgreSQL's, whose peer
// authentication trusts serve's uid).
type probeTargets struct {
	fd     int
	token  string
	socket string
}

// inheritedContent is what the inherited descriptor's file holds.
const inheritedContent = "inherited secret"

func makeProbeTargets(t *testing.T) probeTargets {
	t.Helper()
	dir, err := os.MkdirTemp("", "picloud-probe-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	inherited := filepath.Join(dir, "inherited")
	require.NoError(t, os.WriteFile(inherited, []byte(inheritedContent), 0o600))
	fd, err := syscall.Open(inherited, syscall.O_RDONLY, 0) // no O_CLOEXEC
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	token := filepath.Join(dir, "admin.token")
	require.NoError(t, os.WriteFile(token, []byte("admin-token"), 0o600))
	sock := filepath.Join(dir, ".s.PGSQL.5432")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	require.NoError(t, os.Chmod(sock, 0o777))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return probeTargets{fd: fd, token: token, socket: sock}
}

// probeAttempt is one escape and its argument.
type probeAttempt struct{ name, arg string }

func (pt probeTargets) attempts() []probeAttempt {
	serve := strconv.Itoa(os.Getpid()) // this test process is serve
	return []probeAttempt{
		{"io_uring_socket", pt.socket},
		{"socket", ""},
		{"connect_unix", pt.socket},
		{"clone_newuser", ""},
		{"clone_newnet", ""},
		{"clone_newns", ""},
		{"clone3", ""},
		{"unshare", ""},
		{"prlimit_parent", serve},
		{"setpriority_parent", serve},
		{"memfd_create", ""},
		{"modify_ldt", ""},
		{"mknod_block", ""},
		{"execve", ""},
		{"inherited_fd", strconv.Itoa(pt.fd) + ":" + inheritedContent},
		{"read_file", pt.token},
		{"parent_environ", serve},
		{"bpf", ""},
		{"keyctl", ""},
		{"ptrace", serve},
		{"setuid_root", ""},
	}
}

// runProbe makes every attempt in one probe worker and returns the
// answers by attempt name.
func runProbe(t *testing.T, sup *Supervisor, pt probeTargets) map[string]string {
	t.Helper()
	lim := DefaultLimits()
	lim.Timeout = 30 * time.Second
	fn := Function{Name: "probe", Version: 1, Limits: lim,
		Source: `function handle(req) return sandbox_probe(req.query.name, req.query.arg) end`}
	got := map[string]string{}
	for _, a := range pt.attempts() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		resp, err := sup.Invoke(ctx, fn, &protocol.Request{Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP,
			Query: map[string][]string{"name": {a.name}, "arg": {a.arg}}})
		cancel()
		require.NoError(t, err, a.name)
		got[a.name] = string(resp.Body)
	}
	return got
}

// TestSandboxProbe_EveryEscapeFails runs the probe worker under a real
// supervisor (the production launch: uid, capabilities, descriptors,
// cgroup) and makes every escape attempt from native code inside the
// worker sandbox: each must fail.
func TestSandboxProbe_EveryEscapeFails(t *testing.T) {
	requireWorker(t)
	if underQEMU() {
		t.Skip("qemu-user installs no seccomp filter or Landlock ruleset for the guest")
	}
	probeBin := buildProbeWorker(t)
	pt := makeProbeTargets(t)
	tb := setup(t, func(c *Config) {
		c.WorkerPath = probeBin
		sandboxProbeConfig(t, c)
	})
	got := runProbe(t, tb.sup, pt)
	var allowed []string
	for _, a := range pt.attempts() {
		t.Logf("%-20s %s", a.name, got[a.name])
		if got[a.name] == "allowed" {
			allowed = append(allowed, a.name)
		}
	}
	if len(allowed) > 0 {
		t.Errorf("escapes that succeeded inside the worker sandbox: %s", strings.Join(allowed, ", "))
	}
	if r := got["clone3"]; !strings.Contains(r, "function not implemented") {
		t.Errorf("clone3: %q, want ENOSYS (so that Go's runtime falls back to clone)", r)
	}
}

// underQEMU is set by scripts/test-arm.sh: tests run under qemu-user.
func underQEMU() bool { return os.Getenv("PICLOUD_UNDER_QEMU") == "1" }

// probeWorkerUser is the uid:gid the probe's workers run as: nobody's
// numbers, which need no passwd entry.
const probeWorkerUser = "65534:65534"

// sandboxProbeConfig runs the probe's workers as their own user, with
// every layer required (a worker lacking one fails to start).
func sandboxProbeConfig(t *testing.T, c *Config) {
	if os.Getuid() != 0 {
		t.Skip("the probe runs workers as their own uid, which needs root")
	}
	c.WorkerUser = probeWorkerUser
	c.RequireSandbox = true
}
