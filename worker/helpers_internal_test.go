package worker

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/protocol"
)

// testServer runs a function inside the test process (no subprocess, no
// process sandbox).
type testServer struct {
	t    testing.TB
	s    *Server
	host *protocol.MemoryHost
	// timeout is each call's budget: its deadline is this far from its
	// start (in production the supervisor decides it).
	timeout time.Duration
}

func defaultSpec(source string) protocol.FunctionSpec {
	return protocol.FunctionSpec{Name: "t", Version: 1, Source: source, LoadDeadline: time.Now().Add(time.Minute),
		MemoryBytes: 0, Concurrency: 2}
}

// newTestServer loads spec in process.
func newTestServer(t testing.TB, spec protocol.FunctionSpec) *testServer {
	t.Helper()
	logger := hclog.NewNullLogger()
	s := &Server{logger: logger, mem: newMemoryWatch(logger), inProcess: true}
	if err := s.Load(spec); err != nil {
		t.Fatalf("load: %v", err)
	}
	return &testServer{t: t, s: s, host: protocol.NewMemoryHost(), timeout: 5 * time.Second}
}

// call runs one call with a deadline ts.timeout from now.
func (ts *testServer) call(req *protocol.Request) (*protocol.Response, *protocol.CallError) {
	if req == nil {
		req = &protocol.Request{Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP}
	}
	resp, ce, _ := ts.s.call(ts.s.fn, req, time.Now().Add(ts.timeout), ts.host)
	return resp, ce
}

// body runs a call that must succeed and returns its body.
func (ts *testServer) body(req *protocol.Request) string {
	ts.t.Helper()
	resp, ce := ts.call(req)
	if ce != nil {
		ts.t.Fatalf("call failed: %s: %s\n%s", ce.Kind, ce.Message, ce.Traceback)
	}
	return string(resp.Body)
}

// path returns a GET request for path.
func path(p string) *protocol.Request {
	return &protocol.Request{Method: "GET", Path: p, Trigger: protocol.TriggerHTTP}
}
