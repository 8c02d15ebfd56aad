package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// Handler unit tests: the API over fakes of the interfaces it is given,
// through httptest, no database and no worker. The end-to-end tests (e2e/)
// run the same routes on the real parts.

type fakeFunctions map[string]*store.Function

func (f fakeFunctions) Get(_ context.Context, name string) (*store.Function, error) {
	if fn, ok := f[name]; ok {
		return fn, nil
	}
	return nil, fmt.Errorf("function %s: %w", name, store.ErrNotFound)
}
func (fakeFunctions) Invalidate(string) {}

type fakeTokens map[string]*store.Token // by secret

func (f fakeTokens) Get(_ context.Context, hash []byte) (*store.Token, error) {
	for secret, t := range f {
		if h := HashToken(secret); string(h[:]) == string(hash) {
			return t, nil
		}
	}
	return nil, store.ErrNotFound
}

// scriptedRunner answers with resp, err and keeps the last request.
type scriptedRunner struct {
	mu   sync.Mutex
	resp *protocol.Response
	err  error
	last *protocol.Request
}

func (r *scriptedRunner) Invoke(_ context.Context, _ functions.Spec, req *protocol.Request) (*protocol.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = req
	return r.resp, r.err
}

type discardWriter struct{}

func (discardWriter) Add(functions.Invocation) bool { return true }

// fakeEvents takes async invocations and publishes.
type fakeEvents struct {
	queued    []*protocol.Request
	published []string
}

func (f *fakeEvents) InvokeAsync(_ context.Context, _ *store.Function, req *protocol.Request) (string, error) {
	f.queued = append(f.queued, req)
	return req.InvocationID, nil
}
func (f *fakeEvents) Publish(_ context.Context, topic string, _ json.RawMessage, _ string) (events.Published, error) {
	f.published = append(f.published, topic)
	return events.Published{Event: store.Event{ID: int64(len(f.published)), Topic: topic}, Deliveries: 1}, nil
}
func (f *fakeEvents) PublishBatch(ctx context.Context, topic string, payloads []json.RawMessage, source string) ([]events.Published, error) {
	out := make([]events.Published, len(payloads))
	for i, p := range payloads {
		pub, err := f.Publish(ctx, topic, p, source)
		if err != nil {
			return nil, err
		}
		out[i] = pub
	}
	return out, nil
}
func (f *fakeEvents) RetryDeadLetter(context.Context, int64) (store.DeadLetter, error) {
	return store.DeadLetter{}, store.ErrNotFound
}
func (f *fakeEvents) IssueTicket(context.Context, int64, []string) (string, time.Time, error) {
	return "t", time.Now().Add(time.Minute), nil
}
func (f *fakeEvents) CheckTicket(context.Context, string) (events.Ticket, error) {
	return events.Ticket{}, events.ErrBadTicket
}
func (f *fakeEvents) Subscribe(context.Context, int64, []string) (*events.Subscription, error) {
	return nil, events.ErrRevoked
}
func (f *fakeEvents) Unsubscribe(*events.Subscription) {}

type unitBundle struct {
	srv    *httptest.Server
	runner *scriptedRunner
	events *fakeEvents
}

func unitAPI(t *testing.T, mod ...func(*Deps)) *unitBundle {
	t.Helper()
	fns := fakeFunctions{
		"pub":  {Name: "pub", CurrentVersion: 1, Current: store.Version{Version: 1, Limits: functions.DefaultLimits()}},
		"open": {Name: "open", AllowAsync: true, CurrentVersion: 1, Current: store.Version{Version: 1, Limits: functions.DefaultLimits()}},
		"priv": {Name: "priv", Private: true, CurrentVersion: 2, Current: store.Version{Version: 2, Limits: functions.DefaultLimits()}},
	}
	b := &unitBundle{runner: &scriptedRunner{resp: &protocol.Response{Status: 200, Body: []byte("hi")}}, events: &fakeEvents{}}
	iv, err := invoke.New(invoke.Config{Functions: fns, Runner: b.runner, Writer: discardWriter{}})
	require.NoError(t, err)
	d := Deps{Functions: fns, Invoker: iv, Supervisor: noFunctions{}, Events: b.events,
		Tokens: fakeTokens{
			"inv-secret":  {Name: "inv", Scopes: []string{ScopeInvoke}},
			"read-secret": {Name: "reader", Scopes: []string{ScopeRead}},
			"pub-secret":  {Name: "publisher", Scopes: []string{ScopePublish}},
		}}
	for _, m := range mod {
		m(&d)
	}
	a, err := New(d)
	require.NoError(t, err)
	b.srv = httptest.NewServer(a)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *unitBundle) do(t *testing.T, method, path, token, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(out)
}

func TestFn_OutcomesBecomeAnswers(t *testing.T) {
	cases := []struct {
		name   string
		resp   *protocol.Response
		err    error
		status int
		body   string // substring
	}{
		{"answer", &protocol.Response{Status: 201, Body: []byte("made")}, nil, 201, "made"},
		{"handler 5xx passes through", &protocol.Response{Status: 503, Body: []byte("busy here")}, nil, 503, "busy here"},
		{"lua error", nil, &supervisor.InvokeError{Kind: supervisor.KindScript, Message: "x:1: boom", Traceback: "secret stack"}, 500, `"code":"script_error"`},
		{"timeout", nil, &supervisor.InvokeError{Kind: supervisor.KindTimeout, Message: "timed out after 1s"}, 504, `"code":"timeout"`},
		{"memory", nil, &supervisor.InvokeError{Kind: supervisor.KindMemory, Message: "memory limit of 32 MiB exceeded"}, 502, `"code":"memory_limit"`},
		{"crash", nil, &supervisor.InvokeError{Kind: supervisor.KindCrash, Message: "worker exited: signal 9"}, 502, `"code":"worker_crashed"`},
		{"overloaded", nil, supervisor.ErrOverloaded, 503, `"code":"overloaded"`},
		{"stopping", nil, supervisor.ErrStopped, 503, `"code":"unavailable"`},
	}
	b := unitAPI(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.runner.mu.Lock()
			b.runner.resp, b.runner.err = c.resp, c.err
			b.runner.mu.Unlock()
			resp, body := b.do(t, http.MethodPost, "/fn/pub/x", "", "in")
			require.Equal(t, c.status, resp.StatusCode, body)
			require.Contains(t, body, c.body)
			require.NotContains(t, body, "secret stack", "a traceback goes to the logs, never to the caller")
			require.NotEmpty(t, resp.Header.Get(HeaderInvocationID))
		})
	}
}

func TestFn_PrivateNeedsInvokeScopeAndTheTokenNeverReachesTheFunction(t *testing.T) {
	b := unitAPI(t)
	resp, body := b.do(t, http.MethodGet, "/fn/priv", "", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	resp, body = b.do(t, http.MethodGet, "/fn/priv", "read-secret", "")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, body = b.do(t, http.MethodGet, "/fn/priv", "inv-secret", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	b.runner.mu.Lock()
	defer b.runner.mu.Unlock()
	_, leaked := b.runner.last.Headers["authorization"]
	require.False(t, leaked, "the caller's token reached the function")
	require.Equal(t, "/", b.runner.last.Path)
}

func TestFn_UnknownFunctionIs404(t *testing.T) {
	b := unitAPI(t)
	resp, body := b.do(t, http.MethodGet, "/fn/nope", "", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	require.Contains(t, body, `"code":"not_found"`)
}

func TestFn_AsyncIsQueuedWith202(t *testing.T) {
	b := unitAPI(t)
	resp, body := b.do(t, http.MethodPost, "/fn/open/job", "", `{"a":1}`, HeaderAsync, "1")
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	var acc AsyncAccepted
	require.NoError(t, json.Unmarshal([]byte(body), &acc))
	require.Len(t, b.events.queued, 1)
	require.Equal(t, acc.InvocationID, b.events.queued[0].InvocationID)
	require.Equal(t, "/job", b.events.queued[0].Path)
	require.Equal(t, "/api/v1/invocations/"+acc.InvocationID, resp.Header.Get("Location"))
}

func TestFn_AsyncOfPublicFunctionNeedsOptInOrInvokeToken(t *testing.T) {
	b := unitAPI(t)
	resp, body := b.do(t, http.MethodPost, "/fn/pub/job", "", `{}`, HeaderAsync, "1")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	require.Contains(t, body, `"code":"async_not_allowed"`)
	require.Contains(t, body, "--allow-async")
	require.Empty(t, b.events.queued, "nothing may be queued")

	resp, body = b.do(t, http.MethodPost, "/fn/pub/job", "read-secret", `{}`, HeaderAsync, "1")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, body = b.do(t, http.MethodPost, "/fn/pub/job", "pc_nonsense", `{}`, HeaderAsync, "1")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	require.Empty(t, b.events.queued, "nothing may be queued")

	// A token with the invoke scope may; the function never sees it.
	resp, body = b.do(t, http.MethodPost, "/fn/pub/job", "inv-secret", `{}`, HeaderAsync, "1")
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	require.Len(t, b.events.queued, 1)
	require.NotContains(t, b.events.queued[0].Headers, "authorization")
	// The synchronous call stays public.
	resp, body = b.do(t, http.MethodPost, "/fn/pub/job", "", `{}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
}

func TestEvents_PublishChecksScopeTopicAndJSON(t *testing.T) {
	b := unitAPI(t)
	resp, body := b.do(t, http.MethodPost, "/api/v1/events/orders", "read-secret", `{}`)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, body = b.do(t, http.MethodPost, "/api/v1/events/bad%20topic", "pub-secret", `{}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	resp, body = b.do(t, http.MethodPost, "/api/v1/events/orders", "pub-secret", `{not json`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	require.Contains(t, body, `"code":"bad_json"`)
	resp, body = b.do(t, http.MethodPost, "/api/v1/events/orders", "pub-secret", `{"id":7}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	require.Equal(t, []string{"orders"}, b.events.published)
}

func TestEvents_StreamWithABadTicketIs401(t *testing.T) {
	b := unitAPI(t)
	resp, body := b.do(t, http.MethodGet, "/api/v1/events/stream?ticket=forged", "", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	require.Contains(t, body, "invalid or expired ticket")
}

// TestFn_ResponseHeadersAreFiltered: a function answers on the control
// plane's origin, so it cannot forge the server's headers, send 1xx,
// smuggle control bytes or set origin-wide policy and cookies.
func TestFn_ResponseHeadersAreFiltered(t *testing.T) {
	b := unitAPI(t)
	b.runner.resp = &protocol.Response{Status: 200, Body: []byte("ok"), Headers: map[string]string{
		"x-picloud-invocation-id":   "forged",
		"X-Custom":                  "kept",
		"X-Nul":                     "a\x00b",
		"X-Esc":                     "a\x1bb",
		"strict-transport-security": "max-age=31536000; includeSubDomains",
		"Clear-Site-Data":           `"*"`,
		"Set-Cookie":                "sid=x; Domain=example.com; Path=/fn/pub",
		"Bad Name":                  "x",
	}}
	resp, body := b.do(t, http.MethodGet, "/fn/pub", "", "")
	require.Equal(t, 200, resp.StatusCode, body)
	require.NotEqual(t, "forged", resp.Header.Get(HeaderInvocationID))
	require.Len(t, resp.Header.Values(HeaderInvocationID), 1)
	require.Equal(t, "kept", resp.Header.Get("X-Custom"))
	for _, h := range []string{"X-Nul", "X-Esc", "Strict-Transport-Security", "Clear-Site-Data", "Set-Cookie"} {
		require.Empty(t, resp.Header.Get(h), h)
	}

	for cookie, kept := range map[string]bool{
		"a=1; Path=/":               false,
		"a=1":                       false, // defaults to the request's directory
		"a=1; Path=/fn/pubx":        false,
		"a=1; Path=/fn/pub":         true,
		"a=1; Path=/fn/pub/cart":    true,
		"a=1; path=/fn/pub; Secure": true,
	} {
		b.runner.resp = &protocol.Response{Status: 200, Headers: map[string]string{"Set-Cookie": cookie}}
		resp, _ := b.do(t, http.MethodGet, "/fn/pub", "", "")
		require.Equal(t, kept, resp.Header.Get("Set-Cookie") != "", cookie)
	}

	for _, status := range []int{100, 101, 199, 600, 999} {
		b.runner.resp = &protocol.Response{Status: status, Headers: map[string]string{"Upgrade": "websocket"}}
		resp, body := b.do(t, http.MethodGet, "/fn/pub", "", "")
		require.Equal(t, http.StatusBadGateway, resp.StatusCode, "status %d: %s", status, body)
		require.Contains(t, body, `"code":"invalid_response"`)
	}
}

// TestFn_SlowReaderIsCutOffAndBigAnswersRefused: one answer can hold the
// server's memory and a handler only so long, and only so much.
func TestFn_SlowReaderIsCutOffAndBigAnswersRefused(t *testing.T) {
	b := unitAPI(t, func(d *Deps) { d.WriteTimeout = 300 * time.Millisecond; d.MaxResponse = 32 << 20 })
	body := make([]byte, 24<<20)
	b.runner.resp = &protocol.Response{Status: 200, Body: body}

	// A client that sends its request and then does not read: the server
	// stops writing at the deadline and closes the connection, so the
	// client, reading at last, gets less than the answer.
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /fn/pub HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	time.Sleep(time.Second)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second))) // without a cut-off, this read ends here
	n, _ := io.Copy(io.Discard, conn)
	require.Less(t, n, int64(len(body)), "the whole answer reached a client that did not read in time")

	b.runner.resp = &protocol.Response{Status: 200, Body: make([]byte, 33<<20)}
	resp, out := b.do(t, http.MethodGet, "/fn/pub", "", "")
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Contains(t, out, "more than the limit of 32MiB")
}
