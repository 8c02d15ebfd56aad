package wire

import (
	"errors"
	"net"
	"net/rpc"
	"strings"
	"testing"
)

// fakeWorker answers the control calls from fields.
type fakeWorker struct {
	loadErr error
	loaded  FunctionSpec
}

func (f *fakeWorker) Info() (WorkerInfo, error) { return WorkerInfo{PID: 42, Sandbox: "s"}, nil }
func (f *fakeWorker) Load(spec FunctionSpec) error {
	f.loaded = spec
	return f.loadErr
}
func (f *fakeWorker) Stats() (WorkerStats, error) { return WorkerStats{}, errors.New("no stats") }

// The worker's small RPC server must be understood by the standard net/rpc
// client that go-plugin uses.
func TestRPC_CompatibleWithNetRPCClient(t *testing.T) {
	w := &fakeWorker{loadErr: &CallError{Kind: KindScript, Message: "t.lua:1: boom"}}
	server, client := net.Pipe()
	go serveRPC(server, controlMethods(NewControlServer(w)))
	c := rpc.NewClient(client)
	defer c.Close()

	var info WorkerInfo
	if err := c.Call("Plugin.Info", struct{}{}, &info); err != nil || info.PID != 42 || info.Sandbox != "s" {
		t.Fatalf("info: %+v %v", info, err)
	}
	var reply LoadReply
	if err := c.Call("Plugin.Load", FunctionSpec{Name: "f", Source: "x", Concurrency: 3}, &reply); err != nil {
		t.Fatal(err)
	}
	if w.loaded.Name != "f" || w.loaded.Concurrency != 3 || reply.Err == nil || reply.Err.Message != "t.lua:1: boom" {
		t.Fatalf("load: %+v reply %+v", w.loaded, reply.Err)
	}
	var st WorkerStats
	if err := c.Call("Plugin.Stats", struct{}{}, &st); err == nil || err.Error() != "no stats" {
		t.Fatalf("stats error: %v", err)
	}
	if err := c.Call("Plugin.Nope", struct{}{}, &st); err == nil || !strings.Contains(err.Error(), "can't find method") {
		t.Fatalf("unknown method: %v", err)
	}
	// The stream is still in step after the errors.
	if err := c.Call("Plugin.Info", struct{}{}, &info); err != nil {
		t.Fatal(err)
	}
}
