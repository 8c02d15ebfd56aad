package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// pluginLauncher starts workers through go-plugin. The fork itself happens
// on the spawner's locked OS thread (see spawner).
type pluginLauncher struct {
	path   string
	args   []string
	runDir string // removed by close
	// runLock holds the run directory's lock (see makeRunDir); closed by
	// close.
	runLock *os.File
	host    protocol.Host
	log     hclog.Logger
	sp      *spawner
	id      workerIdentity // who workers run as
	// requireSandbox refuses workers whose sandbox lacks a layer.
	requireSandbox bool

	mu           sync.Mutex
	sandboxShown map[string]bool // sandbox shapes already logged
}

var _ launcher = (*pluginLauncher)(nil)

func newPluginLauncher(path string, args []string, runDir string, host protocol.Host, log hclog.Logger,
	id workerIdentity, requireSandbox bool) *pluginLauncher {
	return &pluginLauncher{path: path, args: args, runDir: runDir, host: host, log: log, sp: newSpawner(log),
		id: id, requireSandbox: requireSandbox, sandboxShown: map[string]bool{}}
}

func (l *pluginLauncher) close() {
	l.sp.close()
	_ = os.RemoveAll(l.runDir)
	if l.runLock != nil {
		l.runLock.Close()
	}
}

// workerEnv is the whole environment of a worker: nothing of ours (no
// DATABASE_URL, no tokens), only the Go scheduler sized to its CPU quota
// and its own temporary directory (for its sockets). go-plugin adds its
// handshake variables.
func workerEnv(lim functions.Limits, tmpDir string) []string {
	return []string{"GOMAXPROCS=" + strconv.Itoa(workerProcs(lim)), "TMPDIR=" + tmpDir}
}

// workerProcs is a worker's GOMAXPROCS: its CPU limit rounded up.
func workerProcs(lim functions.Limits) int {
	return max(1, int(math.Ceil(lim.CPU)))
}

func (l *pluginLauncher) launch(ctx context.Context, fn functions.Spec, cg *workerCgroup) (process, error) {
	pp, err := l.start(ctx, fn.Limits, cg)
	if err != nil {
		return nil, err
	}
	if err := pp.load(ctx, fn); err != nil {
		return nil, err
	}
	return pp, nil
}

// start starts a worker inside cg with the environment of lim, completes
// the handshake and checks its sandbox, but loads no function: launch
// loads one at once, a spare worker when a cold call takes it.
func (l *pluginLauncher) start(ctx context.Context, lim functions.Limits, cg *workerCgroup) (*pluginProcess, error) {
	// go-plugin and the worker make the directories of their sockets inside
	// sockDir; Close removes it (and Start of the next supervisor, after a
	// crash).
	sockDir, err := os.MkdirTemp(l.runDir, "w")
	if err != nil {
		return nil, fmt.Errorf("create worker socket directory: %w", err)
	}
	if err := shareSockDir(sockDir, l.id); err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, err
	}
	cmd := exec.Command(l.path, l.args...)
	cmd.Env = workerEnv(lim, sockDir)
	cmd.SysProcAttr = workerSysProcAttr(cg)
	credentialAttr(cmd.SysProcAttr, l.id)
	pp := &pluginProcess{cmd: cmd, host: l.host, sockDir: sockDir, done: make(chan struct{}), log: l.log}

	cfg := protocol.ClientConfig(cmd, pluginLogger{l.log.Named("worker")})
	cfg.Cmd = nil // started by our runner, on the spawner thread
	cfg.SkipHostEnv = true
	cfg.UnixSocketConfig = &plugin.UnixSocketConfig{TempDir: sockDir}
	cfg.RunnerFunc = func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
		cmd.Env = append(cmd.Env, spec.Env...) // the handshake variables
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		return &spawnRunner{pp: pp, sp: l.sp, cg: cg, stdout: stdout, stderr: stderr}, nil
	}
	client := plugin.NewClient(cfg)
	pp.client = client

	// go-plugin's Start does not take a context: a cancelled start (Stop)
	// kills the process, which ends the handshake wait.
	stop := context.AfterFunc(ctx, pp.Kill)
	defer stop()
	t0 := time.Now()
	if _, err := client.Start(); err != nil {
		return nil, pp.abort(ctx, "start worker "+l.path, err)
	}
	t1 := time.Now()
	wc, err := protocol.Dispense(ctx, client)
	if err != nil {
		return nil, pp.abort(ctx, "dispense worker", err)
	}
	pp.wc = wc
	pp.sandbox = l.readBackSandbox(pp.pid, wc.Info().SandboxReport)
	if l.requireSandbox && !pp.sandbox.Complete() {
		return nil, pp.abort(ctx, "check worker sandbox", fmt.Errorf("%w: %s", ErrSandboxIncomplete, strings.Join(pp.sandbox.Missing, "; ")))
	}
	l.log.Trace("worker started", "pid", pp.pid, "fork", pp.forkTime, "handshake", t1.Sub(t0)-pp.forkTime,
		"dispense", time.Since(t1))
	return pp, nil
}

// load loads fn into a started worker that has none: its source, its
// GOMAXPROCS and its memory limit (the worker's Go memory limit and heap
// watch). On failure the worker is killed and released.
func (p *pluginProcess) load(ctx context.Context, fn functions.Spec) error {
	stop := context.AfterFunc(ctx, p.Kill)
	defer stop()
	t0 := time.Now()
	err := p.wc.Load(ctx, protocol.FunctionSpec{
		Name:         fn.Name,
		Version:      fn.Version,
		Source:       fn.Source,
		LoadDeadline: time.Now().Add(fn.Limits.Timeout),
		MemoryBytes:  fn.Limits.MemoryBytes,
		Concurrency:  fn.Limits.Concurrency,

		Env:      fn.Env,
		MaxProcs: workerProcs(fn.Limits),
	})
	if err != nil {
		return p.abort(ctx, "load function", err)
	}
	p.log.Trace("function loaded", "pid", p.pid, "function", fn.Name, "load", time.Since(t0))
	return nil
}

// abort kills a worker whose start or load failed, releases it and says
// why: a script error as an *InvokeError, else the failed step.
func (p *pluginProcess) abort(ctx context.Context, step string, err error) error {
	p.Kill()
	if p.proc.Load() != nil {
		<-p.done
	}
	p.Close()
	var ce *protocol.CallError
	if errors.As(err, &ce) { // the script did not compile or its top level failed
		return &InvokeError{Kind: KindScript, Message: ce.Message, Traceback: ce.Traceback}
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s: %w", step, err)
}

// pluginProcess is a worker started through go-plugin.
type pluginProcess struct {
	client   *plugin.Client
	wc       *protocol.WorkerClient
	cmd      *exec.Cmd
	host     protocol.Host
	pid      int
	proc     atomic.Pointer[os.Process] // set once forked
	killed   atomic.Bool
	forkTime time.Duration
	sockDir  string
	done     chan struct{} // closed by spawnRunner.Wait once reaped
	sandbox  WorkerSandbox // read back after the handshake
	log      hclog.Logger
}

var _ process = (*pluginProcess)(nil)

func (p *pluginProcess) PID() int { return p.pid }

// sandboxStatus is what the worker's sandbox applied (see WorkerSandbox).
func (p *pluginProcess) sandboxStatus() WorkerSandbox { return p.sandbox }

func (p *pluginProcess) Call(ctx context.Context, req *protocol.Request, deadline time.Time) (*protocol.Response, error) {
	return p.wc.Call(ctx, req, deadline, p.host)
}

func (p *pluginProcess) Kill() {
	p.killed.Store(true) // a process still being forked is killed once it exists
	proc := p.proc.Load()
	if proc == nil {
		return
	}
	select {
	case <-p.done:
	default:
		// os.Process signals through a pidfd: never a reused pid.
		_ = proc.Kill()
	}
}

func (p *pluginProcess) Done() <-chan struct{} { return p.done }

func (p *pluginProcess) ExitStatus() string {
	st := p.cmd.ProcessState
	if st == nil {
		return "unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + strconv.Itoa(int(ws.Signal()))
	}
	return "status " + strconv.Itoa(st.ExitCode())
}

// Close releases the client side of an exited worker. It does not call
// plugin.Client.Kill: with the process gone, go-plugin's goroutines end on
// their own (end of file on the pipes and the socket), and Kill would only
// ask the dead worker to quit over the broken connection (which yamux
// reports on standard error).
func (p *pluginProcess) Close() {
	if p.wc != nil {
		_ = p.wc.Close()
	}
	_ = os.RemoveAll(p.sockDir)
}

// spawnRunner is the go-plugin runner of a worker: like go-plugin's own
// command runner, but the fork happens on the spawner thread, inside the
// worker's cgroup.
type spawnRunner struct {
	pp     *pluginProcess
	sp     *spawner
	cg     *workerCgroup
	stdout io.ReadCloser
	stderr io.ReadCloser
}

var _ runner.Runner = (*spawnRunner)(nil)

func (r *spawnRunner) Start(context.Context) error {
	began := time.Now()
	if err := r.sp.start(r.pp.cmd, r.cg); err != nil {
		return err
	}
	r.pp.forkTime = time.Since(began)
	r.pp.pid = r.pp.cmd.Process.Pid
	r.pp.proc.Store(r.pp.cmd.Process)
	if r.pp.killed.Load() {
		_ = r.pp.cmd.Process.Kill()
	}
	return nil
}

func (r *spawnRunner) Wait(context.Context) error {
	err := r.pp.cmd.Wait()
	close(r.pp.done)
	return err
}

func (r *spawnRunner) Kill(context.Context) error {
	r.pp.Kill()
	return nil
}

func (r *spawnRunner) ID() string { return strconv.Itoa(r.pp.pid) }

func (r *spawnRunner) Stdout() io.ReadCloser { return r.stdout }

func (r *spawnRunner) Stderr() io.ReadCloser { return r.stderr }

func (r *spawnRunner) Name() string { return r.pp.cmd.Path }

func (r *spawnRunner) Diagnose(context.Context) string {
	if _, err := os.Stat(r.pp.cmd.Path); err != nil {
		return "the worker executable is missing: " + err.Error()
	}
	return "the worker did not complete the go-plugin handshake"
}

func (r *spawnRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }

func (r *spawnRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

// pluginLogger is the logger handed to go-plugin. It demotes the messages
// go-plugin logs as errors or warnings whenever a worker is killed, which
// the supervisor does on purpose (idle, eviction, timeout) and reports
// itself with the reason.
type pluginLogger struct{ hclog.Logger }

func (l pluginLogger) Error(msg string, args ...interface{}) {
	if msg == "plugin process exited" {
		l.Logger.Debug(msg, args...)
		return
	}
	l.Logger.Error(msg, args...)
}

func (l pluginLogger) Warn(msg string, args ...interface{}) {
	if msg == "plugin failed to exit gracefully" || msg == "error closing client during Kill" {
		l.Logger.Debug(msg, args...)
		return
	}
	l.Logger.Warn(msg, args...)
}
