package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/internal/ssetest"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
	"github.com/picloud/picloud/supervisor"
)

// streamBundle is an events service on a database of its own, served by
// a real API on 127.0.0.1.
type streamBundle struct {
	st    *store.Store
	token string
}

// setupDB gives a test a migrated database and an admin token on it.
func setupDB(t *testing.T) *streamBundle {
	t.Helper()
	dbURL := storetest.NewDB(t)
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	secret, hash, err := NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.BootstrapToken(ctx, "admin", []string{ScopeAdmin}, hash[:]); err != nil {
		t.Fatal(err)
	}
	return &streamBundle{st: st, token: secret}
}

// noFunctions runs nothing: the stream tests publish through the service.
type noFunctions struct{}

func (noFunctions) Invoke(context.Context, functions.Spec, *protocol.Request) (*protocol.Response, error) {
	return nil, errors.New("no functions in stream tests")
}
func (noFunctions) Deploy(context.Context, functions.Spec) error { return nil }
func (noFunctions) Remove(string)                                {}
func (noFunctions) Status() supervisor.Status                    { return supervisor.Status{} }
func (noFunctions) CheckMinWarm(string, int) error               { return nil }

// startService starts an events service on b's database (mod adjusts its
// config) and stops it in cleanup.
func startService(t *testing.T, b *streamBundle, mod func(*events.Config)) *events.Service {
	t.Helper()
	cache := store.NewFunctionCache(b.st, store.FunctionCacheConfig{})
	iv, err := invoke.New(invoke.Config{Functions: cache, Runner: noFunctions{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := events.Config{Store: b.st.Events(), Functions: cache, Invoker: iv, Logger: hclog.NewNullLogger()}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := events.New(cfg)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatalf("start service: %v", err)
	}
	t.Cleanup(svc.Stop)
	return svc
}

// serveHTTP serves the API with svc on 127.0.0.1.
func serveHTTP(t *testing.T, b *streamBundle, svc *events.Service) *httptest.Server {
	t.Helper()
	cache := store.NewFunctionCache(b.st, store.FunctionCacheConfig{})
	iv, err := invoke.New(invoke.Config{Functions: cache, Runner: noFunctions{}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Deps{Store: b.st, Functions: cache, Invoker: iv, Supervisor: noFunctions{}, Events: svc,
		StreamHeartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

const waitTimeout = 30 * time.Second

func bearerOf(b *streamBundle) http.Header {
	return http.Header{"Authorization": {"Bearer " + b.token}}
}

func TestStream_ResumeAfterDropHasNoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	resp, r := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?topic=a", bearerOf(b))
	var want []int64
	for i := 0; i < 100; i++ {
		pub, err := svc.Publish(ctx, "a", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), "test")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, pub.Event.ID)
		// Events of another topic in between must not show up.
		if _, err := svc.Publish(ctx, "b", json.RawMessage(`{}`), "test"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.ID != want[i] || m.Data.ID != want[i] || m.Data.Topic != "a" {
			t.Fatalf("message %d: id %d topic %q, want id %d on a", i, m.ID, m.Data.Topic, want[i])
		}
		if p := string(m.Data.Payload); p != fmt.Sprintf(`{"i": %d}`, i) && p != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("message %d: payload %s", i, p)
		}
	}
	resp.Body.Close() // drop the connection after 50

	h := bearerOf(b)
	h.Set("Last-Event-ID", strconv.FormatInt(want[49], 10))
	resp2, r2 := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?topic=a", h)
	defer resp2.Body.Close()
	for i := 50; i < 100; i++ {
		m, err := r2.Next()
		if err != nil {
			t.Fatalf("message %d after reconnect: %v", i, err)
		}
		if m.ID != want[i] {
			t.Fatalf("message %d after reconnect: id %d, want %d", i, m.ID, want[i])
		}
	}
	// Nothing else was pending: the next message is a new event.
	pub, err := svc.Publish(ctx, "a", json.RawMessage(`"sentinel"`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r2.Next()
	if err != nil || m.ID != pub.Event.ID {
		t.Fatalf("after the replayed 50: id %d (%v), want the new event %d", m.ID, err, pub.Event.ID)
	}
}

func TestStream_LastEventIDQueryReplaysFromLog(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, func(c *events.Config) { c.Heartbeat = 20 * time.Millisecond })
	srv := serveHTTP(t, b, svc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var ids []int64
	for i := 0; i < 3; i++ {
		pub, err := svc.Publish(ctx, "x", json.RawMessage(`1`), "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pub.Event.ID)
	}
	resp, r := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?last_event_id=0", bearerOf(b))
	defer resp.Body.Close()
	for i := range ids {
		m, err := r.Next()
		if err != nil || m.ID != ids[i] {
			t.Fatalf("replayed %d: id %d (%v), want %d", i, m.ID, err, ids[i])
		}
	}
	if err := r.WaitComment("heartbeat"); err != nil {
		t.Fatalf("no heartbeat: %v", err)
	}
}

func TestStream_BadRequests(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	for _, tc := range []struct {
		name, url string
		header    http.Header
		status    int
	}{
		{"no token", "/api/v1/events/stream", nil, 401},
		{"bad ticket", "/api/v1/events/stream?ticket=st1.99999999999.AAAA", nil, 401},
		{"bad topic", "/api/v1/events/stream?topic=%20bad", bearerOf(b), 400},
		{"bad last id", "/api/v1/events/stream?last_event_id=x", bearerOf(b), 400},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.url, nil)
		if tc.header != nil {
			req.Header = tc.header
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s, want %d with a JSON error", tc.name, resp.StatusCode, body, tc.status)
		}
	}
}

func TestStream_TicketWorksOnEveryNode(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc1 := startService(t, b, nil)
	svc2 := startService(t, b, nil)
	srv1, srv2 := serveHTTP(t, b, svc1), serveHTTP(t, b, svc2)

	req, _ := http.NewRequest(http.MethodPost, srv1.URL+"/api/v1/events/tickets", nil)
	req.Header = bearerOf(b)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	err = json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || tk.Ticket == "" {
		t.Fatalf("ticket: %d %+v %v", resp.StatusCode, tk, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// Issued by node 1, accepted by node 2, without a bearer token.
	s, r := ssetest.Open(t, ctx, srv2.URL+"/api/v1/events/stream?topic=t&ticket="+tk.Ticket, http.Header{})
	defer s.Body.Close()
	pub, err := svc1.Publish(ctx, "t", json.RawMessage(`{"via":"node1"}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Next()
	if err != nil || m.ID != pub.Event.ID {
		t.Fatalf("node 2 stream got id %d (%v), want %d published on node 1", m.ID, err, pub.Event.ID)
	}
	// A tampered ticket is refused.
	bad := tk.Ticket[:len(tk.Ticket)-2] + "xx"
	resp, err = http.Get(srv2.URL + "/api/v1/events/stream?ticket=" + bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered ticket: %d, want 401", resp.StatusCode)
	}
}

func TestHub_SlowClientDroppedPositionIntact(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, func(c *events.Config) { c.ClientBuffer = 4 })
	ctx := context.Background()
	sub := svc.Hub().Subscribe(nil)
	defer svc.Hub().Unsubscribe(sub)
	for i := 0; i < 10; i++ {
		if _, err := svc.Publish(ctx, "slow", json.RawMessage(`1`), "test"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-sub.Dropped():
	case <-time.After(waitTimeout):
		t.Fatal("slow subscription was not dropped")
	}
	// What it got before the drop is a gap-free prefix: a client resumes
	// from the last one with Last-Event-ID.
	prev := sub.From
	for len(sub.C()) > 0 {
		ev := <-sub.C()
		if ev.ID != prev+1 {
			t.Fatalf("buffered id %d after %d", ev.ID, prev)
		}
		prev = ev.ID
	}
	if prev-sub.From != 4 {
		t.Fatalf("buffered %d events, want the buffer size 4", prev-sub.From)
	}
	// Other clients are unaffected.
	if svc.Hub().Clients() != 0 {
		t.Errorf("clients = %d after drop", svc.Hub().Clients())
	}
}

func TestStream_Curl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var ids []int64
	for i := 0; i < 3; i++ {
		pub, err := svc.Publish(ctx, "c", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pub.Event.ID)
	}
	cmd := exec.CommandContext(ctx, curl, "-sSN", "-H", "Authorization: Bearer "+b.token,
		"-H", fmt.Sprintf("Last-Event-ID: %d", ids[0]), srv.URL+"/api/v1/events/stream?topic=c")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	r := ssetest.NewReader(out)
	for _, want := range ids[1:] {
		m, err := r.Next()
		if err != nil || m.ID != want {
			t.Fatalf("curl read id %d (%v), want %d", m.ID, err, want)
		}
	}
	pub, err := svc.Publish(ctx, "c", json.RawMessage(`"live"`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Next()
	if err != nil || m.ID != pub.Event.ID || string(m.Data.Payload) != `"live"` {
		t.Fatalf("curl live event: %+v (%v)", m, err)
	}
}

func TestAddSchedule_ImpossibleExpressionIs400(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	srv := serveHTTP(t, b, startService(t, b, nil))
	body := strings.NewReader(`{"function":"feb","expr":"0 0 30 2 *"}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/schedules", body)
	req.Header = bearerOf(b)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(out["error"], `"0 0 30 2 *" never fires`) {
		t.Fatalf("add impossible schedule: %d %v", resp.StatusCode, out)
	}
	if list, err := b.st.Events().ListSchedules(context.Background(), "", false); err != nil || len(list) != 0 {
		t.Fatalf("schedules stored: %v %v", list, err)
	}
}
