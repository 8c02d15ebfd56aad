package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/picloud/picloud/protocol/wire"
)

// Server is the worker process's service: the control calls (wire.Worker)
// and the data socket where each accepted connection is served by one
// long-lived goroutine running one call at a time.
type Server struct {
	logger Logger
	dir    string // private socket directory (0700)
	ln     *net.UnixListener

	sandboxOnce sync.Once
	sandbox     sandboxResult
	// inheritedFDs is how many inherited descriptors Main closed.
	inheritedFDs int

	mu    sync.Mutex
	fn    *function
	conns int

	mem   *memoryWatch
	calls atomic.Uint64

	// inProcess is set by tests that run a Server inside the test process:
	// no process sandbox, no listener.
	inProcess bool
}

var _ wire.Worker = (*Server)(nil)

// NewServer makes the private socket directory and listens on the data
// socket in it. It also points go-plugin's own socket there
// (PLUGIN_UNIX_SOCKET_DIR), so the process needs no other directory.
func NewServer(logger Logger) (*Server, error) {
	dir, err := os.MkdirTemp("", "picloud-worker-")
	if err != nil {
		return nil, fmt.Errorf("make socket directory: %w", err)
	}
	// 0700, or 0770 inside a directory a supervisor running as another
	// uid shares with us through our group (setgid, or ours and group
	// rwx where systemd's RestrictSUIDSGID= forbids setgid): that is how it
	// reaches our sockets (supervisor/launcher_sandbox.go); the directory
	// keeps everyone else out.
	mode := os.FileMode(0o700)
	if st, err := os.Stat(filepath.Dir(dir)); err == nil && sharedWithUs(st) {
		mode = 0o770
	}
	if err := os.Chmod(dir, mode); err != nil {
		return nil, fmt.Errorf("make socket directory: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "data.sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("listen on data socket: %w", err)
	}
	s := &Server{logger: logger, dir: dir, ln: ln}
	s.mem = newMemoryWatch(logger)
	go s.accept()
	return s, nil
}

// Dir is the private socket directory.
func (s *Server) Dir() string { return s.dir }

// Close stops accepting and removes the socket directory.
func (s *Server) Close() error {
	err := s.ln.Close()
	os.RemoveAll(s.dir)
	return err
}

// Info applies the sandbox once and describes the worker.
func (s *Server) Info() (wire.WorkerInfo, error) {
	s.applySandbox()
	return wire.WorkerInfo{
		PID:           os.Getpid(),
		SocketDir:     s.dir,
		SocketPath:    s.ln.Addr().String(),
		LandlockABI:   s.sandbox.landlockABI,
		Sandbox:       s.sandbox.summary,
		SandboxReport: &s.sandbox.report,
	}, nil
}

func (s *Server) applySandbox() {
	if s.inProcess {
		return
	}
	s.sandboxOnce.Do(func() {
		start := time.Now()
		s.sandbox = applyProcessSandbox(s.dir, s.inheritedFDs)
		s.logger.Info("worker sandbox applied", "landlock_abi", s.sandbox.landlockABI, "summary", s.sandbox.summary,
			"took", time.Since(start).String())
	})
}

// Load compiles the function and runs its top level on a first pooled
// state. A worker serves one function version: a second Load is an error.
func (s *Server) Load(spec wire.FunctionSpec) error {
	s.applySandbox()
	s.mu.Lock()
	loaded := s.fn != nil
	s.mu.Unlock()
	if loaded {
		return errors.New("a function is already loaded")
	}
	if spec.MaxProcs > 0 {
		// A spare worker started with the spare's GOMAXPROCS.
		runtime.GOMAXPROCS(spec.MaxProcs)
	}
	if spec.MemoryBytes > 0 {
		// The Go collector works harder near the limit, well before the
		// kernel would kill us; the heap watch fails calls above it.
		debug.SetMemoryLimit(softMemoryLimit(spec.MemoryBytes))
		s.mem.setLimit(spec.MemoryBytes)
	}
	fn, err := newFunction(spec)
	if err != nil {
		return err
	}
	if spec.LoadDeadline.IsZero() {
		return errors.New("load: the function spec has no load deadline")
	}
	ctx, cancel := s.callContext(spec.LoadDeadline, errLoadTimeout)
	st, ce := fn.newState(ctx)
	cancel()
	if ce != nil {
		return ce
	}
	fn.put(st)
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() (wire.WorkerStats, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := wire.WorkerStats{
		HeapBytes:   ms.HeapAlloc,
		SysBytes:    ms.Sys - ms.HeapReleased,
		CallsServed: s.calls.Load(),
		InFlight:    s.mem.inFlight(),
	}
	s.mu.Lock()
	if s.fn != nil {
		st.PooledStates = s.fn.pooled()
	}
	s.mu.Unlock()
	return st, nil
}

// accept serves each data connection on its own goroutine.
func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logger.Error("accept data connection", "error", err)
			}
			return
		}
		go s.serveConn(wire.NewDataConn(c))
	}
}

// serveConn runs the calls of one connection, one at a time.
func (s *Server) serveConn(dc *wire.DataConn) {
	defer dc.Close()
	s.mu.Lock()
	fn := s.fn
	// The supervisor keeps at most Concurrency connections busy, but a
	// connection it dropped (its caller gave up) may still be finishing a
	// call here until that call's timeout: allow that much slack. Pooled
	// Lua states stay bounded by Concurrency either way.
	if fn != nil && s.conns >= 2*fn.spec.Concurrency {
		fn = nil
	}
	if fn != nil {
		s.conns++
	}
	s.mu.Unlock()
	if fn == nil {
		return
	}
	defer func() {
		s.mu.Lock()
		s.conns--
		s.mu.Unlock()
	}()
	var req wire.Request
	for {
		deadline, err := dc.ReadCall(&req)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.logger.Debug("data connection ended", "error", err)
			}
			return
		}
		resp, ce, ok := s.call(fn, &req, deadline, dc)
		if ce != nil {
			err = dc.WriteError(ce)
		} else {
			err = dc.WriteResponse(resp)
		}
		if err != nil || !ok {
			return
		}
	}
}

// call runs one call on a pooled state until deadline, the absolute time
// the supervisor decided (the worker has no timeout of its own). ok=false
// means the connection must be closed (a host call broke it).
func (s *Server) call(fn *function, req *wire.Request, deadline time.Time, host wire.Host) (*wire.Response, *wire.CallError, bool) {
	ctx, cancel := s.callContext(deadline, errCallDeadline)
	defer cancel()
	st, ce := fn.get(ctx)
	if ce != nil {
		return nil, ce, true
	}
	resp, ce, reuse := fn.run(ctx, st, req, host)
	s.calls.Add(1)
	hostOK := !st.call.hostBroken
	if reuse {
		fn.put(st)
	} else {
		st.L.Close()
		if ce != nil && ce.Kind == wire.KindMemory {
			s.mem.recover()
		}
	}
	return resp, ce, hostOK
}

// callContext returns a context ended at deadline (cause: timeout, an error
// matching errCallTimeout; the deadline also bounds host calls) or by the
// memory watch (cause: errCallMemory).
func (s *Server) callContext(deadline time.Time, timeout error) (context.Context, func()) {
	base, cancelBase := context.WithCancelCause(context.Background())
	ctx, cancel := context.WithDeadlineCause(base, deadline, timeout)
	id := s.mem.track(cancelBase)
	return ctx, func() {
		s.mem.untrack(id)
		cancel()
		cancelBase(context.Canceled)
	}
}

// sharedWithUs says whether the directory st describes is one a
// supervisor of another uid shares with this worker through its group.
func sharedWithUs(st os.FileInfo) bool {
	if st.Mode()&os.ModeSetgid != 0 {
		return true
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Gid) == os.Getgid() && int(sys.Uid) != os.Getuid() && st.Mode().Perm()&0o070 == 0o070
}
