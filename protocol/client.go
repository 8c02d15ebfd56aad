package protocol

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/picloud/picloud/protocol/wire"
)

// CancelGrace is how long Call keeps waiting after its context ends for the
// worker to report the call's own timeout (a *CallError of KindTimeout),
// before giving up on the connection and returning the context's error.
const CancelGrace = wire.CancelGrace

// ErrClosed is returned by calls on a closed WorkerClient.
var ErrClosed = errors.New("worker client closed")

// WorkerClient is the supervisor's handle on one worker process: control
// calls over go-plugin (net/rpc) and invocations over the worker's data
// socket, one connection per concurrent call. It is safe for concurrent use.
type WorkerClient struct {
	ctl  *controlClient
	info WorkerInfo

	mu    sync.Mutex
	spec  FunctionSpec
	slots chan struct{}         // one token per concurrent call, made by Load
	idle  chan *wire.ClientConn // connections not in a call
	conns map[*wire.ClientConn]struct{}

	closed    chan struct{}
	closeOnce sync.Once
	calls     atomic.Uint64
}

// Dispense dispenses the worker plugin on a started (or startable)
// plugin.Client, applies the worker's sandbox and reads its info. The
// returned client needs Load before Call.
func Dispense(ctx context.Context, c *plugin.Client) (*WorkerClient, error) {
	proto, err := c.Client()
	if err != nil {
		return nil, fmt.Errorf("connect to worker: %w", err)
	}
	return dispense(ctx, proto)
}

// dispense is Dispense on a connected go-plugin client (tests connect one
// in memory with plugin.NewRPCClient).
func dispense(ctx context.Context, proto plugin.ClientProtocol) (*WorkerClient, error) {
	type result struct {
		raw any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		raw, err := proto.Dispense(wire.PluginName)
		ch <- result{raw, err}
	}()
	var raw any
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("dispense worker: %w", r.err)
		}
		raw = r.raw
	case <-ctx.Done():
		return nil, fmt.Errorf("dispense worker: %w", ctx.Err())
	}
	ctl, ok := raw.(*controlClient)
	if !ok {
		return nil, fmt.Errorf("dispense worker: unexpected plugin type %T", raw)
	}
	w := &WorkerClient{ctl: ctl, conns: map[*wire.ClientConn]struct{}{}, closed: make(chan struct{})}
	if err := ctl.call(ctx, "Info", struct{}{}, &w.info); err != nil {
		return nil, err
	}
	return w, nil
}

// Info returns what the worker said about itself at Dispense.
func (w *WorkerClient) Info() WorkerInfo { return w.info }

// Load compiles the function in the worker. A compile error, or an error
// running the script's top level, is a *CallError of KindScript. A worker
// serves one function version: Load is called once.
func (w *WorkerClient) Load(ctx context.Context, spec FunctionSpec) error {
	if spec.Concurrency < 1 {
		spec.Concurrency = 1
	}
	var reply wire.LoadReply
	if err := w.ctl.call(ctx, "Load", spec, &reply); err != nil {
		return err
	}
	if reply.Err != nil {
		return reply.Err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spec = spec
	w.spec.Source = ""
	w.slots = make(chan struct{}, spec.Concurrency)
	w.idle = make(chan *wire.ClientConn, spec.Concurrency)
	return nil
}

// Stats returns the worker's counters.
func (w *WorkerClient) Stats(ctx context.Context) (WorkerStats, error) {
	var st WorkerStats
	err := w.ctl.call(ctx, "Stats", struct{}{}, &st)
	return st, err
}

// Call runs one invocation, which the worker ends at deadline (a
// *CallError of KindTimeout). The deadline is the caller's decision (the
// supervisor's, from the function's timeout and its caller's context):
// Call neither invents nor shortens one, and refuses a zero deadline. Host
// calls the handler makes (kv, secrets) are served by host, scoped to the
// loaded function's name. Call waits for a free concurrency slot
// (honouring ctx).
//
// A failure inside the call is a *CallError (the worker keeps serving). If
// ctx ends and the worker does not answer within CancelGrace, Call returns
// an error wrapping ctx.Err() and drops that connection. Any other error
// means the transport broke: the worker died or was killed.
func (w *WorkerClient) Call(ctx context.Context, req *Request, deadline time.Time, host Host) (*Response, error) {
	if deadline.IsZero() {
		return nil, errors.New("call worker: the call has no deadline")
	}
	w.mu.Lock()
	slots, spec := w.slots, w.spec
	w.mu.Unlock()
	if slots == nil {
		return nil, errors.New("call worker: no function loaded")
	}
	if w.isClosed() {
		return nil, ErrClosed
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for worker slot: %w", ctx.Err())
	case <-w.closed:
		return nil, ErrClosed
	}
	defer func() { <-slots }()

	dc, err := w.conn()
	if err != nil {
		return nil, err
	}
	resp, err := dc.Call(ctx, req, deadline, host, spec.Name)
	broken := false
	if err != nil {
		var ce *CallError
		broken = !errors.As(err, &ce)
	}
	w.release(dc, broken)
	if broken && w.isClosed() {
		return nil, ErrClosed
	}
	if err == nil {
		w.calls.Add(1)
	}
	return resp, err
}

// Echo sends payload over a data connection and returns what the worker's
// connection goroutine sent back, without running Lua: a health check of
// the data path and the floor of its round trip.
func (w *WorkerClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	w.mu.Lock()
	slots := w.slots
	w.mu.Unlock()
	if slots == nil {
		return nil, errors.New("echo: no function loaded")
	}
	if w.isClosed() {
		return nil, ErrClosed
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for worker slot: %w", ctx.Err())
	case <-w.closed:
		return nil, ErrClosed
	}
	defer func() { <-slots }()
	dc, err := w.conn()
	if err != nil {
		return nil, err
	}
	out, err := dc.Echo(ctx, payload)
	if err != nil {
		w.release(dc, true)
		return nil, fmt.Errorf("echo: %w", err)
	}
	w.release(dc, false)
	return out, nil
}

func (w *WorkerClient) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// conn returns an idle data connection or dials a new one.
func (w *WorkerClient) conn() (*wire.ClientConn, error) {
	select {
	case dc := <-w.idle:
		return dc, nil
	default:
	}
	dc, err := wire.DialClientConn(w.info.SocketPath)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	select {
	case <-w.closed:
		w.mu.Unlock()
		dc.Close()
		return nil, ErrClosed
	default:
	}
	w.conns[dc] = struct{}{}
	w.mu.Unlock()
	return dc, nil
}

// release returns a connection to the idle set, or closes it if broken.
func (w *WorkerClient) release(dc *wire.ClientConn, broken bool) {
	if !broken {
		select {
		case <-w.closed:
		case w.idle <- dc:
			return
		default:
		}
	}
	w.mu.Lock()
	delete(w.conns, dc)
	w.mu.Unlock()
	dc.Close()
}

// Close closes the data connections and removes the worker's socket
// directory. It does not stop the process: kill the plugin.Client for that.
// Safe to call twice.
func (w *WorkerClient) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		close(w.closed)
		for dc := range w.conns {
			dc.Close()
		}
		w.conns = map[*wire.ClientConn]struct{}{}
		w.mu.Unlock()
		if w.info.SocketDir != "" {
			_ = os.RemoveAll(w.info.SocketDir)
		}
	})
	return nil
}
