package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
	"github.com/picloud/picloud/supervisor"
)

// waitTimeout bounds every wait of these tests: generous, for a loaded
// 2-core machine. Tests wait for signals, never for fixed sleeps.
const waitTimeout = 60 * time.Second

// handlerFunc is a fake function body of the queue-semantics invoker.
type handlerFunc func(req *protocol.Request) (*protocol.Response, error)

// queueTestInvoker is a test invoker for pure queue semantics: it runs Go
// functions registered per function name instead of Lua workers, and
// records every call. Tests of the real path use the supervisor.
type queueTestInvoker struct {
	mu       sync.Mutex
	handlers map[string]handlerFunc
	calls    map[string][]call
	notify   chan call
}

// call is one recorded invocation.
type call struct {
	Function string
	At       time.Time
	Req      *protocol.Request
	Event    map[string]any
}

func newQueueTestInvoker() *queueTestInvoker {
	return &queueTestInvoker{handlers: map[string]handlerFunc{}, calls: map[string][]call{}, notify: make(chan call, 10000)}
}

func (q *queueTestInvoker) set(fn string, h handlerFunc) {
	q.mu.Lock()
	q.handlers[fn] = h
	q.mu.Unlock()
}

func (q *queueTestInvoker) Invoke(_ context.Context, fn functions.Spec, req *protocol.Request) (*protocol.Response, error) {
	c := call{Function: fn.Name, At: time.Now(), Req: req}
	if len(req.Event) > 0 {
		if err := json.Unmarshal(req.Event, &c.Event); err != nil {
			return nil, fmt.Errorf("req.event is not JSON: %w", err)
		}
	}
	q.mu.Lock()
	h := q.handlers[fn.Name]
	q.calls[fn.Name] = append(q.calls[fn.Name], c)
	q.mu.Unlock()
	q.notify <- c
	if h == nil {
		return &protocol.Response{Status: 200}, nil
	}
	return h(req)
}

func (q *queueTestInvoker) callsOf(fn string) []call {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]call(nil), q.calls[fn]...)
}

// waitCall waits for the next call of fn.
func (q *queueTestInvoker) waitCall(t *testing.T, fn string) call {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case c := <-q.notify:
			if c.Function == fn {
				return c
			}
		case <-deadline:
			t.Fatalf("no call of %s within %s", fn, waitTimeout)
		}
	}
}

// waitCount waits until fn ran n times and returns its n-th call.
func (q *queueTestInvoker) waitCount(t *testing.T, fn string, n int) call {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if calls := q.callsOf(fn); len(calls) >= n {
			return calls[n-1]
		}
		select {
		case <-q.notify:
		case <-deadline:
			t.Fatalf("%s ran %d times within %s, want %d", fn, len(q.callsOf(fn)), waitTimeout, n)
		}
	}
}

// storeFunctions serves Functions straight from the store (no cache), so a
// redeploy is seen at once.
type storeFunctions struct{ st *store.Store }

func (f storeFunctions) Get(ctx context.Context, name string) (*store.Function, error) {
	return f.st.GetFunction(ctx, name)
}

// testBundle is what a test pokes at.
type testBundle struct {
	dbURL  string
	writer *store.InvocationWriter
	st     *store.Store
	es     *store.EventStore
	inv    *queueTestInvoker
	// runner runs the calls of startService's invoker; nil means inv.
	runner invoke.Runner
	// iv is the invoker of the last service startService started.
	iv *invoke.Invoker
}

// setupDB gives a test its own database with functions deployed.
func setupDB(t *testing.T, fns ...string) *testBundle {
	t.Helper()
	dbURL := newRiverDB(t)
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	for _, name := range fns {
		deploy(t, st, name, 0)
	}
	w := store.NewInvocationWriter(st, store.InvocationWriterConfig{})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &testBundle{dbURL: dbURL, st: st, writer: w, es: st.Events(), inv: newQueueTestInvoker()}
}

// riverTemplate is the test database template with River's tables too, so
// that a service's Start finds them migrated.
var riverTemplate = storetest.Template{Key: "river", Extra: func(ctx context.Context, dbURL string) error {
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return Migrate(ctx, st.Events())
}}

// newRiverDB gives a test its own database with PiCloud's and River's
// tables.
func newRiverDB(t *testing.T) string {
	t.Helper()
	return storetest.NewDBFrom(t, riverTemplate)
}

func deploy(t *testing.T, st *store.Store, name string, maxAttempts int) {
	t.Helper()
	_, _, err := st.Deploy(context.Background(), store.DeployParams{Name: name, MaxAttempts: maxAttempts,
		Source: "function handle(req) return 'ok' end"})
	if err != nil {
		t.Fatalf("deploy %s: %v", name, err)
	}
}

// startService starts a service on b's database and stops it in cleanup.
func startService(t *testing.T, b *testBundle, mod func(*Config)) *Service {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: testLogLevel()})
	var runner invoke.Runner = b.inv
	if b.runner != nil {
		runner = b.runner
	}
	iv, err := invoke.New(invoke.Config{Functions: storeFunctions{b.st}, Runner: runner, Writer: b.writer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b.iv = iv
	cfg := Config{
		Store:     b.es,
		Functions: storeFunctions{b.st},
		Invoker:   iv,
		Logger:    log,
		RetryBase: 50 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatalf("start service: %v", err)
	}
	t.Cleanup(svc.Stop)
	return svc
}

// testLogLevel is EVENTS_TEST_LOG (trace, debug...), warn by default.
func testLogLevel() hclog.Level {
	if l := hclog.LevelFromString(os.Getenv("EVENTS_TEST_LOG")); l != hclog.NoLevel {
		return l
	}
	return hclog.Warn
}

// waitJobsDone waits until no job of the picloud queue is pending, running
// or awaiting a retry.
func waitJobsDone(t *testing.T, b *testBundle) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var n int
		err := b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')
			  AND kind <> 'picloud_retention'`).Scan(&n)
		if err != nil {
			t.Fatalf("count jobs: %v", err)
		}
		if n == 0 {
			if err := b.writer.Flush(context.Background()); err != nil {
				t.Fatalf("flush invocation records: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still pending after %s", n, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
}

func addTrigger(t *testing.T, b *testBundle, fn, kind, topic string) {
	t.Helper()
	if _, err := b.es.AddTrigger(context.Background(), fn, kind, topic); err != nil {
		t.Fatalf("add trigger: %v", err)
	}
}

func TestPublish_SubscribedHandlerRunsOnce(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "orders", "other")
	svc := startService(t, b, nil)
	addTrigger(t, b, "orders", store.TriggerKindTopic, "order.created")
	addTrigger(t, b, "other", store.TriggerKindTopic, "order.deleted")

	pub, err := svc.Publish(context.Background(), "order.created", json.RawMessage(`{"n":1}`), "test")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if pub.Deliveries != 1 {
		t.Fatalf("deliveries = %d, want 1", pub.Deliveries)
	}
	c := b.inv.waitCall(t, "orders")
	waitJobsDone(t, b)

	if got := len(b.inv.callsOf("orders")); got != 1 {
		t.Fatalf("orders ran %d times, want 1", got)
	}
	if got := len(b.inv.callsOf("other")); got != 0 {
		t.Fatalf("other ran %d times, want 0", got)
	}
	if c.Req.Trigger != protocol.TriggerEvent {
		t.Errorf("trigger = %q, want event", c.Req.Trigger)
	}
	if c.Event["id"] != float64(pub.Event.ID) || c.Event["topic"] != "order.created" ||
		c.Event["attempt"] != float64(1) || c.Event["published_at"] == nil {
		t.Errorf("req.event = %v", c.Event)
	}
	if p, _ := c.Event["payload"].(map[string]any); p["n"] != float64(1) {
		t.Errorf("req.event.payload = %v", c.Event["payload"])
	}
	var status string
	if err := b.st.Pool().QueryRow(context.Background(), "SELECT status FROM invocations WHERE id = $1",
		c.Req.InvocationID).Scan(&status); err != nil || status != functions.StatusSucceeded {
		t.Errorf("invocation record: status %q, err %v", status, err)
	}
}

func TestDelivery_FailingHandlerRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "dlq-handler")
	deploy(t, b.st, "flaky", 3)
	const base = 50 * time.Millisecond
	svc := startService(t, b, func(c *Config) { c.RetryBase = base })
	addTrigger(t, b, "flaky", store.TriggerKindTopic, "jobs")
	addTrigger(t, b, "dlq-handler", store.TriggerKindDeadLetters, "")
	b.inv.set("flaky", func(req *protocol.Request) (*protocol.Response, error) {
		return nil, &supervisor.InvokeError{Kind: supervisor.KindScript, Message: "boom: line 3"}
	})

	pub, err := svc.Publish(context.Background(), "jobs", json.RawMessage(`{"job":7}`), "test")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	dc := b.inv.waitCall(t, "dlq-handler")
	waitJobsDone(t, b)

	calls := b.inv.callsOf("flaky")
	if len(calls) != 3 {
		t.Fatalf("flaky ran %d times, want exactly 3", len(calls))
	}
	for i, c := range calls {
		if c.Event["attempt"] != float64(i+1) {
			t.Errorf("call %d: attempt = %v", i, c.Event["attempt"])
		}
	}
	// Delays grow: each retry waits at least its backoff (base·2^(n-1)
	// minus 25% jitter), so the second wait is longer than the first
	// could be.
	d1, d2 := calls[1].At.Sub(calls[0].At), calls[2].At.Sub(calls[1].At)
	if d1 < base*3/4 || d2 < base*2*3/4 {
		t.Errorf("retry delays %s, %s: want at least %s and %s", d1, d2, base*3/4, base*3/2)
	}

	dls, err := b.es.ListDeadLetters(context.Background(), "", 0, 10)
	if err != nil {
		t.Fatalf("list dead letters: %v", err)
	}
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if dl.Function != "flaky" || dl.EventID != pub.Event.ID || dl.Topic != "jobs" || len(dl.Attempts) != 3 {
		t.Fatalf("dead letter = %+v", dl)
	}
	for i, a := range dl.Attempts {
		if a.Attempt != i+1 || a.Error != "boom: line 3" || a.At.IsZero() {
			t.Errorf("attempt %d = %+v", i, a)
		}
	}

	if dc.Req.Trigger != protocol.TriggerDeadLetter {
		t.Errorf("dead-letter trigger = %q", dc.Req.Trigger)
	}
	ev, _ := dc.Event["event"].(map[string]any)
	if dc.Event["id"] != float64(dl.ID) || dc.Event["function"] != "flaky" || ev["id"] != float64(pub.Event.ID) || ev["topic"] != "jobs" {
		t.Errorf("dead-letter req.event = %v", dc.Event)
	}
	if atts, _ := dc.Event["attempts"].([]any); len(atts) != 3 {
		t.Errorf("dead-letter req.event.attempts = %v", dc.Event["attempts"])
	}
	if got := len(b.inv.callsOf("dlq-handler")); got != 1 {
		t.Errorf("dead-letter handler ran %d times, want 1", got)
	}
}

func TestDeadLetterHandler_FailureMakesNoNewDeadLetter(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	deploy(t, b.st, "bad", 1)
	deploy(t, b.st, "bad-dlq", 2)
	svc := startService(t, b, nil)
	addTrigger(t, b, "bad", store.TriggerKindTopic, "t")
	addTrigger(t, b, "bad-dlq", store.TriggerKindDeadLetters, "")
	fail := func(*protocol.Request) (*protocol.Response, error) { return nil, errors.New("always") }
	b.inv.set("bad", fail)
	b.inv.set("bad-dlq", fail)

	if _, err := svc.Publish(context.Background(), "t", json.RawMessage(`1`), "test"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	b.inv.waitCall(t, "bad-dlq")
	waitJobsDone(t, b)
	if got := len(b.inv.callsOf("bad-dlq")); got != 2 {
		t.Errorf("dead-letter handler ran %d times, want 2 (its max attempts)", got)
	}
	dls, err := b.es.ListDeadLetters(context.Background(), "", 0, 10)
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters = %d (%v), want only the original one", len(dls), err)
	}
	var failed int
	if err := b.st.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM invocations WHERE function = 'bad-dlq' AND status = 'failed'").Scan(&failed); err != nil || failed != 2 {
		t.Errorf("recorded failures of the dead-letter handler = %d (%v), want 2", failed, err)
	}
}

func TestDeadLetterRetry_SucceedsAfterFix(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	deploy(t, b.st, "fixme", 2)
	svc := startService(t, b, nil)
	addTrigger(t, b, "fixme", store.TriggerKindTopic, "t")
	b.inv.set("fixme", func(*protocol.Request) (*protocol.Response, error) { return &protocol.Response{Status: 500}, nil })

	if _, err := svc.Publish(context.Background(), "t", json.RawMessage(`{"a":1}`), "test"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	var dls []store.DeadLetter
	for deadline := time.Now().Add(waitTimeout); len(dls) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
		var err error
		if dls, err = b.es.ListDeadLetters(context.Background(), "fixme", 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(dls[0].Attempts) != 2 || dls[0].Attempts[0].Error != "handler returned status 500" {
		t.Fatalf("dead letter attempts = %+v", dls[0].Attempts)
	}
	waitJobsDone(t, b)

	// "Fix" the function, then retry the dead letter.
	b.inv.set("fixme", nil)
	before := len(b.inv.callsOf("fixme"))
	if _, err := svc.RetryDeadLetter(context.Background(), dls[0].ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	c := b.inv.waitCount(t, "fixme", before+1)
	waitJobsDone(t, b)
	if c.Event["attempt"] != float64(1) {
		t.Errorf("retried delivery attempt = %v, want 1 (attempts reset)", c.Event["attempt"])
	}
	if got := len(b.inv.callsOf("fixme")) - before; got != 1 {
		t.Errorf("retried delivery ran %d times, want 1", got)
	}
	if left, _ := b.es.ListDeadLetters(context.Background(), "", 0, 10); len(left) != 0 {
		t.Errorf("dead letters left: %+v", left)
	}
	if _, err := svc.RetryDeadLetter(context.Background(), dls[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second retry: err = %v, want ErrNotFound", err)
	}
}

func TestInvocation_EmitThenFailPublishesNothing(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "emitter", "listener")
	svc := startService(t, b, nil)
	addTrigger(t, b, "emitter", store.TriggerKindTopic, "in")
	addTrigger(t, b, "listener", store.TriggerKindTopic, "out")
	b.inv.set("emitter", func(req *protocol.Request) (*protocol.Response, error) {
		var ev map[string]any
		_ = json.Unmarshal(req.Event, &ev)
		resp := &protocol.Response{Status: 200, Events: []protocol.Event{{Topic: "out", Payload: []byte(`{"from":"emitter"}`)}}}
		if p, _ := ev["payload"].(map[string]any); p["fail"] == true {
			return resp, &supervisor.InvokeError{Kind: supervisor.KindScript, Message: "failed after emitting"}
		}
		return resp, nil
	})
	deploy(t, b.st, "emitter", 1)

	if _, err := svc.Publish(context.Background(), "in", json.RawMessage(`{"fail":true}`), "test"); err != nil {
		t.Fatal(err)
	}
	b.inv.waitCall(t, "emitter")
	waitJobsDone(t, b)
	out, err := b.es.EventsAfter(context.Background(), 0, 0, []string{"out"}, 10)
	if err != nil || len(out) != 0 {
		t.Fatalf("events on out after a failed invocation: %v (%v), want none", out, err)
	}

	// The same handler succeeding publishes, once, and its subscriber runs.
	if _, err := svc.Publish(context.Background(), "in", json.RawMessage(`{"fail":false}`), "test"); err != nil {
		t.Fatal(err)
	}
	b.inv.waitCall(t, "listener")
	waitJobsDone(t, b)
	out, err = b.es.EventsAfter(context.Background(), 0, 0, []string{"out"}, 10)
	if err != nil || len(out) != 1 || out[0].Source != "fn:emitter" {
		t.Fatalf("events on out after a successful invocation: %+v (%v), want one from fn:emitter", out, err)
	}
	if got := len(b.inv.callsOf("listener")); got != 1 {
		t.Errorf("listener ran %d times, want 1", got)
	}
}

func TestEnqueueInvocation_RecordsQueuedThenResult(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "async")
	svc := startService(t, b, nil)
	release := make(chan struct{})
	b.inv.set("async", func(req *protocol.Request) (*protocol.Response, error) {
		<-release
		return &protocol.Response{Status: 201, Body: append([]byte("got "), req.Body...)}, nil
	})

	if _, err := svc.EnqueueInvocation(context.Background(), "missing", &protocol.Request{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown function: err = %v, want ErrNotFound", err)
	}
	id, err := svc.EnqueueInvocation(context.Background(), "async", &protocol.Request{Method: "POST", Path: "/", Body: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	b.inv.waitCall(t, "async")
	inv, err := b.st.GetInvocation(context.Background(), id)
	if err != nil || inv.Status != functions.StatusRunning {
		t.Fatalf("while running: %+v, %v", inv, err)
	}
	close(release)
	waitJobsDone(t, b)
	inv, err = b.st.GetInvocation(context.Background(), id)
	if err != nil || inv.Status != functions.StatusSucceeded || inv.HTTPStatus != 201 || string(inv.Result) != "got hi" ||
		inv.Trigger != protocol.TriggerHTTP {
		t.Fatalf("after: %+v, %v", inv, err)
	}
}

func TestTwoServices_EachDeliveryOnce(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "count")
	svc1 := startService(t, b, nil)
	startService(t, b, nil)
	addTrigger(t, b, "count", store.TriggerKindTopic, "n")
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := svc1.Publish(context.Background(), "n", json.RawMessage(fmt.Sprint(i)), "test"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		b.inv.waitCall(t, "count")
	}
	waitJobsDone(t, b)
	seen := map[float64]int{}
	for _, c := range b.inv.callsOf("count") {
		seen[c.Event["id"].(float64)]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events delivered, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("event %v delivered %d times", id, k)
		}
	}
}

func TestRunner_RiverSleepsWhenIdleAndWakesOnWork(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "wake")
	deploy(t, b.st, "later", 2)
	svc := startService(t, b, func(c *Config) { c.IdleAfter = 200 * time.Millisecond; c.RetryBase = 3 * time.Second })
	// An insert-only node: no invoker, so it never runs River.
	other := startService(t, b, func(c *Config) { c.Invoker = nil })
	addTrigger(t, b, "wake", store.TriggerKindTopic, "w")
	addTrigger(t, b, "later", store.TriggerKindTopic, "l")

	waitIdle := func() {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for svc.runner.isRunning.Load() {
			if time.Now().After(deadline) {
				t.Fatal("river did not stop while idle")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitIdle()
	// Published on the other node: the insert notification wakes River.
	if _, err := other.Publish(context.Background(), "w", json.RawMessage(`1`), "test"); err != nil {
		t.Fatal(err)
	}
	b.inv.waitCall(t, "wake")
	waitIdle()

	// A retry due in ~3 s: River may sleep, but wakes for it.
	b.inv.set("later", func(*protocol.Request) (*protocol.Response, error) { return nil, errors.New("not yet") })
	if _, err := svc.Publish(context.Background(), "l", json.RawMessage(`1`), "test"); err != nil {
		t.Fatal(err)
	}
	b.inv.waitCount(t, "later", 1)
	b.inv.set("later", nil)
	c := b.inv.waitCount(t, "later", 2)
	if c.Event["attempt"] != float64(2) {
		t.Errorf("retry attempt = %v", c.Event["attempt"])
	}
	waitJobsDone(t, b)
}

func TestInvoker_SyncCallPublishesOnlyWithSuccessfulRecord(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "http-fn", "sub")
	startService(t, b, nil)
	addTrigger(t, b, "sub", store.TriggerKindTopic, "from-http")
	ctx := context.Background()
	emitted := []protocol.Event{{Topic: "from-http", Payload: []byte(`{"x":1}`)}}
	run := func(resp *protocol.Response, err error) functions.Invocation {
		t.Helper()
		b.inv.set("http-fn", func(*protocol.Request) (*protocol.Response, error) { return resp, err })
		res := b.iv.Lookup(ctx, "http-fn", &protocol.Request{InvocationID: functions.NewInvocationID(),
			Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP})
		if rerr := b.iv.Record(ctx, &res, nil); rerr != nil {
			t.Fatal(rerr)
		}
		return res.Record
	}
	run(&protocol.Response{Status: 500, Events: emitted}, nil) // a 5xx answer publishes nothing
	bad := run(&protocol.Response{Status: 200, Events: []protocol.Event{{Topic: "bad topic!", Payload: []byte(`1`)}}}, nil)
	run(&protocol.Response{Status: 200, Events: emitted}, nil)
	if err := b.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b.inv.waitCall(t, "sub")
	waitJobsDone(t, b)
	evs, err := b.es.EventsAfter(ctx, 0, 0, nil, 10)
	if err != nil || len(evs) != 1 || evs[0].Source != "fn:http-fn" {
		t.Fatalf("events = %+v (%v), want only the successful invocation's", evs, err)
	}
	if inv, err := b.st.GetInvocation(ctx, bad.ID); err != nil || inv.Status != functions.StatusFailed ||
		!strings.Contains(inv.Error, "not valid") {
		t.Errorf("invalid emit: %+v %v", inv, err)
	}
	if got := len(b.inv.callsOf("sub")); got != 1 {
		t.Errorf("subscriber ran %d times, want 1", got)
	}
}
