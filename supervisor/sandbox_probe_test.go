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

	"github.com/picloud/picloud/functions"
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
	lim := functions.DefaultLimits()
	lim.Timeout = 30 * time.Second
	fn := functions.Spec{Name: "probe", Version: 1, Limits: lim,
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

func TestSupervisor_StatusReadsBackWorkerSandbox(t *testing.T) {
	if underQEMU() {
		t.Skip("qemu-user installs no seccomp filter or Landlock ruleset for the guest")
	}
	if os.Getuid() != 0 {
		t.Skip("running workers as their own uid needs root")
	}
	tb := setup(t, func(c *Config) {
		c.WorkerPath = shareableWorker(t)
		c.WorkerUser = probeWorkerUser
	})
	mustInvoke(t, tb.sup, testFn("readback", 1, nil), "x")
	st := tb.sup.Status()
	require.Equal(t, "65534 (uid 65534, gid 65534)", strings.Replace(st.WorkerUser, "nobody", "65534", 1))
	ws := workersOf(st, "readback")
	require.Len(t, ws, 1)
	sb := ws[0].Sandbox
	t.Logf("sandbox: %s", sb.Summary())
	require.True(t, sb.Complete(), "missing: %v", sb.Missing)
	require.Equal(t, 65534, sb.UID)
	require.Equal(t, "none", sb.Capabilities)
	require.Equal(t, "filter", sb.Seccomp)
	require.True(t, strings.HasPrefix(sb.Landlock, "enforced"), sb.Landlock)
	require.True(t, sb.NoNewPrivs)
}

func TestSupervisor_WorkersAsServesUIDAreReportedAndRefusedWhenRequired(t *testing.T) {
	if underQEMU() {
		t.Skip("qemu-user installs no seccomp filter or Landlock ruleset for the guest")
	}
	// No worker user (picloud-worker does not exist on a test machine):
	// workers run as serve's uid, and the read-back says so.
	if _, _, _, err := lookupUser(DefaultWorkerUser); err == nil {
		t.Skip("user picloud-worker exists here")
	}
	tb := setup(t, nil)
	mustInvoke(t, tb.sup, testFn("asserve", 1, nil), "x")
	st := tb.sup.Status()
	require.True(t, strings.HasPrefix(st.WorkerUser, "none: no user picloud-worker"), st.WorkerUser)
	ws := workersOf(st, "asserve")
	require.Len(t, ws, 1)
	require.False(t, ws[0].Sandbox.Complete())
	require.Contains(t, strings.Join(ws[0].Sandbox.Missing, "; "), "uid: runs as")

	// Required: Start refuses.
	sup, err := New(Config{WorkerPath: workerBin, Logger: testLogger(t), CgroupName: "picloud-test", RequireSandbox: true})
	require.NoError(t, err)
	err = sup.Start(context.Background())
	require.ErrorContains(t, err, "a complete worker sandbox is required but workers cannot get their own uid")
	sup.Stop()
}

func TestSupervisor_RequireSandboxRefusesAWorkerLackingALayer(t *testing.T) {
	if underQEMU() {
		t.Skip("qemu-user installs no seccomp filter or Landlock ruleset for the guest")
	}
	if os.Getuid() != 0 {
		t.Skip("running workers as their own uid needs root")
	}
	// Workers as serve's uid (root here: no worker user) lack the uid
	// layer; Start would refuse that under RequireSandbox, so the launcher
	// gets the flag afterwards to show that the launch-time check refuses
	// the worker itself.
	tb := setup(t, func(c *Config) { c.WorkerPath = shareableWorker(t) })
	l := tb.sup.launcher.(*pluginLauncher)
	l.requireSandbox = true // as --require-sandbox, with workers as serve's uid (root)
	// Where a picloud-worker user exists (an installed package), workers
	// would get it: take it away, as a host without the user.
	l.id = workerIdentity{desc: "none: test"}
	_, err := invoke(t, tb.sup, testFn("refused", 1, nil), "x")
	var ie *InvokeError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, KindStart, ie.Kind)
	require.Contains(t, ie.Message, "worker sandbox incomplete (--require-sandbox): uid: runs as root")
}

// shareableWorker copies the worker binary where another uid may run it.
func shareableWorker(t *testing.T) string {
	t.Helper()
	requireWorker(t)
	dir, err := os.MkdirTemp("", "picloud-worker-bin-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	b, err := os.ReadFile(workerBin)
	require.NoError(t, err)
	bin := filepath.Join(dir, "picloud-worker")
	require.NoError(t, os.WriteFile(bin, b, 0o755))
	return bin
}
