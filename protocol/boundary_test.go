package protocol

// The worker boundary as one tested contract, in process: go-plugin's own
// client (plugin.NewRPCClient, as plugin.Client.Client builds it) drives
// wire.ServeConn, the worker's emulation of go-plugin's server, over an
// in-memory connection. A go-plugin upgrade that changes what its client
// sends (control and std streams, Dispenser, the MuxBroker's stream ids,
// net/rpc) fails here rather than in production. The data path then
// carries a call with its deadline to a fake worker's data socket.

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/picloud/picloud/protocol/wire"
)

// boundaryWorker is a wire.Worker with a real data socket: it records what
// it is given and answers calls without Lua.
type boundaryWorker struct {
	t    *testing.T
	dir  string
	ln   net.Listener
	wg   sync.WaitGroup
	spec chan wire.FunctionSpec
	// deadlines receives the deadline of every call read from the socket.
	deadlines chan time.Time
}

func newBoundaryWorker(t *testing.T) *boundaryWorker {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "data.sock"))
	if err != nil {
		t.Fatal(err)
	}
	w := &boundaryWorker{t: t, dir: dir, ln: ln, spec: make(chan wire.FunctionSpec, 4), deadlines: make(chan time.Time, 4)}
	w.wg.Add(1)
	go w.accept()
	t.Cleanup(func() {
		ln.Close()
		w.wg.Wait()
	})
	return w
}

func (w *boundaryWorker) Info() (wire.WorkerInfo, error) {
	return wire.WorkerInfo{PID: os.Getpid(), SocketDir: w.dir, SocketPath: w.ln.Addr().String(), LandlockABI: 4, Sandbox: "boundary test"}, nil
}

func (w *boundaryWorker) Load(spec wire.FunctionSpec) error {
	w.spec <- spec
	if strings.Contains(spec.Source, "syntax error") {
		return &wire.CallError{Kind: wire.KindScript, Message: "f.lua:1: syntax error near 'x'", Traceback: "tb"}
	}
	return nil
}

func (w *boundaryWorker) Stats() (wire.WorkerStats, error) {
	return wire.WorkerStats{HeapBytes: 1 << 20, SysBytes: 2 << 20, PooledStates: 2, CallsServed: 7, InFlight: 1}, nil
}

func (w *boundaryWorker) accept() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			dc := wire.NewDataConn(c)
			defer dc.Close()
			for {
				var req wire.Request
				deadline, err := dc.ReadCall(&req)
				if err != nil {
					return
				}
				w.deadlines <- deadline
				// A host call on the same connection, answered by the
				// supervisor's Host.
				v, found, err := dc.KVGet(context.Background(), "", "greeting")
				body := "kv: " + string(v)
				if err != nil || !found {
					body = "kv failed"
				}
				if err := dc.WriteResponse(&wire.Response{Status: 201, Body: []byte(body + " " + req.Path)}); err != nil {
					return
				}
			}
		}()
	}
}

func TestBoundary_GoPluginClientDrivesTheEmulatedServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fake := newBoundaryWorker(t)

	clientConn, serverConn := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- wire.ServeConn(fake, serverConn) }()
	rpc, err := plugin.NewRPCClient(clientConn, PluginSet())
	if err != nil {
		t.Fatalf("go-plugin NewRPCClient: %v", err)
	}
	if err := rpc.Ping(); err != nil {
		t.Fatalf("go-plugin Ping: %v", err)
	}
	if _, err := rpc.Dispense("not-a-plugin"); err == nil {
		t.Fatal("dispensed an unknown plugin")
	}

	// Dispense and Info.
	wc, err := dispense(ctx, rpc)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	defer wc.Close()
	if info := wc.Info(); info.PID != os.Getpid() || info.LandlockABI != 4 || info.Sandbox != "boundary test" ||
		info.SocketPath != fake.ln.Addr().String() {
		t.Fatalf("info: %+v", info)
	}

	// Load: a script error comes back as a *CallError with its fields.
	loadDL := time.Now().Add(time.Minute)
	err = wc.Load(ctx, FunctionSpec{Name: "f", Version: 3, Source: "syntax error", LoadDeadline: loadDL, MemoryBytes: 32 << 20, Concurrency: 2})
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindScript || ce.Message != "f.lua:1: syntax error near 'x'" || ce.Traceback != "tb" {
		t.Fatalf("load of a bad script: %v", err)
	}
	<-fake.spec
	// Load: every field of the spec arrives, the deadline to the nanosecond.
	err = wc.Load(ctx, FunctionSpec{Name: "f", Version: 3, Source: "function handle() end", LoadDeadline: loadDL, MemoryBytes: 32 << 20, Concurrency: 2})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	got := <-fake.spec
	if got.Name != "f" || got.Version != 3 || got.Source != "function handle() end" || got.MemoryBytes != 32<<20 ||
		got.Concurrency != 2 || !got.LoadDeadline.Equal(loadDL) {
		t.Fatalf("loaded spec %+v, load deadline %v", got, loadDL)
	}

	// Stats.
	st, err := wc.Stats(ctx)
	if err != nil || st != (WorkerStats{HeapBytes: 1 << 20, SysBytes: 2 << 20, PooledStates: 2, CallsServed: 7, InFlight: 1}) {
		t.Fatalf("stats: %+v %v", st, err)
	}

	// A call carries exactly the deadline it is given, and host calls are
	// answered on its connection.
	host := NewMemoryHost()
	if err := host.KVSet(ctx, "f", "greeting", []byte(`"hi"`), 0); err != nil {
		t.Fatal(err)
	}
	callDL := time.Now().Add(1234 * time.Millisecond)
	resp, err := wc.Call(ctx, &Request{Path: "/p"}, callDL, host)
	if err != nil || resp.Status != 201 || string(resp.Body) != `kv: "hi" /p` {
		t.Fatalf("call: %+v %v", resp, err)
	}
	if dl := <-fake.deadlines; !dl.Equal(callDL) {
		t.Fatalf("the worker got deadline %v, want %v", dl, callDL)
	}

	// go-plugin's Close asks the server to quit (Control.Quit): ServeConn
	// returns.
	if err := rpc.Close(); err != nil {
		t.Fatalf("go-plugin Close: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeConn: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("ServeConn did not return after Quit")
	}
}
