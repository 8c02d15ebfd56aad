package invoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// fakeRunner answers every call with resp, err.
type fakeRunner struct {
	resp *protocol.Response
	err  error
}

func (f fakeRunner) Invoke(context.Context, functions.Spec, *protocol.Request) (*protocol.Response, error) {
	return f.resp, f.err
}

type oneFunction struct{}

func (oneFunction) Get(_ context.Context, name string) (*store.Function, error) {
	if name != "fn" {
		return nil, fmt.Errorf("function %s: %w", name, store.ErrNotFound)
	}
	return &store.Function{Name: "fn", CurrentVersion: 3, Current: store.Version{Version: 3, Limits: functions.DefaultLimits()}}, nil
}

// sink records what the invoker stored and observed.
type sink struct {
	mu        sync.Mutex
	written   []functions.Invocation
	committed []functions.Invocation
	published [][]protocol.Event
	observed  []functions.Outcome
	badTopic  string
}

func (s *sink) Add(inv functions.Invocation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written = append(s.written, inv)
	return true
}

func (s *sink) CheckEvents(_ string, evs []protocol.Event) error {
	for _, e := range evs {
		if e.Topic == s.badTopic {
			return fmt.Errorf("topic %q is not valid", e.Topic)
		}
	}
	return nil
}

func (s *sink) Commit(_ context.Context, rec functions.Invocation, evs []protocol.Event, _ int, then func(*store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, rec)
	s.published = append(s.published, evs)
	if then != nil {
		return then(nil)
	}
	return nil
}

func (s *sink) ObserveInvocation(_, _ string, o functions.Outcome, _ time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observed = append(s.observed, o)
}

// TestInvoker_OutcomeTableForEveryTrigger runs the outcome → record table
// once per trigger: HTTP, async (HTTP request run from the queue), event,
// cron and dead letter all map a call's answer or failure the same way.
func TestInvoker_OutcomeTableForEveryTrigger(t *testing.T) {
	evs := []protocol.Event{{Topic: "t", Payload: []byte(`1`)}}
	logs := []protocol.LogEntry{{Level: "info", Message: "hi"}}
	cases := []struct {
		name       string
		resp       *protocol.Response
		err        error
		outcome    functions.Outcome
		status     string
		httpStatus int
		errPart    string
		published  int  // events committed with the record
		recorded   bool // false: the run must not be recorded (retry later)
		tracebacks int
	}{
		{name: "ok", resp: &protocol.Response{Status: 201, Logs: logs}, outcome: functions.OutcomeOK,
			status: functions.StatusSucceeded, httpStatus: 201, recorded: true},
		{name: "ok with events", resp: &protocol.Response{Status: 200, Events: evs}, outcome: functions.OutcomeOK,
			status: functions.StatusSucceeded, httpStatus: 200, published: 1, recorded: true},
		{name: "5xx answer publishes nothing", resp: &protocol.Response{Status: 503, Events: evs}, outcome: functions.OutcomeError,
			status: functions.StatusFailed, httpStatus: 503, errPart: "returned status 503", recorded: true},
		{name: "invalid emitted events", resp: &protocol.Response{Status: 200, Events: []protocol.Event{{Topic: "bad"}}},
			outcome: functions.OutcomeError, status: functions.StatusFailed, httpStatus: 500, errPart: `topic "bad"`, recorded: true},
		{name: "lua error", err: &supervisor.InvokeError{Kind: supervisor.KindScript, Message: "x.lua:1: boom", Traceback: "stack"},
			outcome: functions.OutcomeError, status: functions.StatusFailed, httpStatus: 500, errPart: "boom", recorded: true, tracebacks: 1},
		{name: "timeout", err: &supervisor.InvokeError{Kind: supervisor.KindTimeout, Message: "timed out after 1s"},
			outcome: functions.OutcomeTimeout, status: functions.StatusFailed, httpStatus: 504, errPart: "timed out", recorded: true},
		{name: "memory", err: &supervisor.InvokeError{Kind: supervisor.KindMemory, Message: "memory limit of 32 MiB exceeded"},
			outcome: functions.OutcomeMemory, status: functions.StatusFailed, httpStatus: 502, errPart: "memory limit", recorded: true},
		{name: "crash", err: &supervisor.InvokeError{Kind: supervisor.KindCrash, Message: "worker exited: signal 9"},
			outcome: functions.OutcomeCrash, status: functions.StatusFailed, httpStatus: 502, errPart: "signal 9", recorded: true},
		{name: "overloaded", err: supervisor.ErrOverloaded, outcome: functions.OutcomeOverloaded},
		{name: "stopping", err: supervisor.ErrStopped, outcome: functions.OutcomeUnavailable},
	}
	triggers := []struct{ name, trigger, method string }{
		{"http", protocol.TriggerHTTP, "GET"},
		{"async", protocol.TriggerHTTP, "POST"},
		{"event", protocol.TriggerEvent, "POST"},
		{"cron", protocol.TriggerCron, "POST"},
		{"dead letter", protocol.TriggerDeadLetter, "POST"},
	}
	for _, tr := range triggers {
		for _, c := range cases {
			t.Run(tr.name+"/"+c.name, func(t *testing.T) {
				s := &sink{badTopic: "bad"}
				iv, err := New(Config{Functions: oneFunction{}, Runner: fakeRunner{c.resp, c.err}, Writer: s, Committer: s, Observer: s})
				require.NoError(t, err)
				req := &protocol.Request{InvocationID: "id-1", Method: tr.method, Path: "/p\x00\xff", Trigger: tr.trigger}
				res := iv.Lookup(context.Background(), "fn", req)
				require.Equal(t, c.outcome.Retryable(), res.Outcome.Retryable())
				if c.recorded {
					var then func(*store.Tx) error
					if tr.name == "async" { // an async job completes with its record
						then = func(*store.Tx) error { return nil }
					}
					require.NoError(t, iv.Record(context.Background(), &res, then))
				}
				require.Equal(t, c.outcome, res.Outcome)
				require.Equal(t, []functions.Outcome{c.outcome}, s.observed, "observed once")
				if !c.recorded {
					require.Empty(t, s.written)
					require.Empty(t, s.committed)
					return
				}
				all := append(append([]functions.Invocation{}, s.written...), s.committed...)
				require.Len(t, all, 1, "recorded once")
				rec := all[0]
				require.Equal(t, "id-1", rec.ID)
				require.Equal(t, "fn", rec.Function)
				require.Equal(t, 3, rec.Version)
				require.Equal(t, tr.trigger, rec.Trigger)
				require.Equal(t, "/p\x00\xff", rec.Path)
				require.Equal(t, c.status, rec.Status)
				require.Equal(t, c.httpStatus, rec.HTTPStatus)
				if c.errPart != "" {
					require.Contains(t, rec.Error, c.errPart)
				} else {
					require.Empty(t, rec.Error)
				}
				n := 0
				for _, l := range rec.Logs {
					if strings.Contains(l.Message, "stack") {
						n++
					}
				}
				require.Equal(t, c.tracebacks, n, "traceback in the logs")
				published := 0
				for _, p := range s.published {
					published += len(p)
				}
				require.Equal(t, c.published, published)
			})
		}
	}
}

func TestInvoker_UnknownFunctionIsGoneAndNotRecorded(t *testing.T) {
	s := &sink{}
	iv, err := New(Config{Functions: oneFunction{}, Runner: fakeRunner{}, Writer: s, Committer: s, Observer: s})
	require.NoError(t, err)
	res := iv.Lookup(context.Background(), "nope", &protocol.Request{InvocationID: "x", Trigger: protocol.TriggerEvent})
	require.Equal(t, functions.OutcomeGone, res.Outcome)
	require.True(t, errors.Is(res.Err, res.Err))
	require.Equal(t, []functions.Outcome{functions.OutcomeGone}, s.observed)
	require.Empty(t, s.written)

	// An async job records its gone function as failed: still observed once.
	require.NoError(t, iv.Record(context.Background(), &res, func(*store.Tx) error { return nil }))
	require.Equal(t, []functions.Outcome{functions.OutcomeGone}, s.observed)
	require.Len(t, s.committed, 1)
	require.Equal(t, functions.StatusFailed, s.committed[0].Status)
}
