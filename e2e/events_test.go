package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// eventLog is the body of GET /api/v1/events.
type eventLog struct {
	Events []struct {
		ID      int64           `json:"id"`
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
		Source  string          `json:"source"`
	} `json:"events"`
}

// events returns the event log of topic.
func (hh *harness) events(t *testing.T, topic string) eventLog {
	t.Helper()
	r := hh.do(t, req{Method: "GET", Path: "/api/v1/events?topic=" + topic, Token: hh.admin})
	if r.Status != http.StatusOK {
		t.Fatalf("list events of %s: %d %s", topic, r.Status, r.Body)
	}
	var l eventLog
	r.JSON(t, &l)
	return l
}

// addTrigger subscribes function to topic.
func (hh *harness) addTrigger(t *testing.T, function, topic string) {
	t.Helper()
	r := hh.do(t, req{Method: "POST", Path: "/api/v1/triggers", Token: hh.admin,
		Body: map[string]any{"function": function, "topic": topic}})
	if r.Status != http.StatusCreated {
		t.Fatalf("add trigger %s on %s: %d %s", function, topic, r.Status, r.Body)
	}
}

// invocationsOf lists the invocations of function (newest first).
func (hh *harness) invocationsOf(t *testing.T, function string) []map[string]any {
	t.Helper()
	r := hh.do(t, req{Method: "GET", Path: "/api/v1/invocations?function=" + function, Token: hh.admin})
	if r.Status != http.StatusOK {
		t.Fatalf("list invocations of %s: %d %s", function, r.Status, r.Body)
	}
	var l struct{ Invocations []map[string]any }
	r.JSON(t, &l)
	return l.Invocations
}

// getInvocation reads one invocation, which must exist.
func (hh *harness) getInvocation(t *testing.T, id string) map[string]any {
	t.Helper()
	r := hh.do(t, req{Method: "GET", Path: "/api/v1/invocations/" + id, Token: hh.admin})
	if r.Status != http.StatusOK {
		t.Fatalf("invocation %s: %d %s", id, r.Status, r.Body)
	}
	var m map[string]any
	r.JSON(t, &m)
	return m
}

const syncEmitter = `function handle(req)
  events.emit("sync-orders", { n = tonumber(req.body) or 0, via = req.method })
  if req.query.fail then
    error("failed after emitting")
  end
  if req.query.answer then
    return { status = tonumber(req.query.answer), body = "refused" }
  end
  return "emitted " .. req.body
end
`

const syncSubscriber = `function handle(req)
  log.info("got order " .. tostring(req.event.payload.n) .. " on " .. req.event.topic)
  return "ok"
end
`

// A synchronous call's emitted events are published with its record,
// before its answer, and run the functions subscribed to the topic; a call
// that fails after emitting publishes nothing.
func TestServe_SyncCallPublishesEmittedEvents(t *testing.T) {
	hh := need(t)
	hh.deploy(t, map[string]any{"name": "sync-emitter", "source": syncEmitter})
	hh.deploy(t, map[string]any{"name": "sync-sub", "source": syncSubscriber})
	hh.addTrigger(t, "sync-sub", "sync-orders")

	// A failing call first: its event must never appear.
	r := hh.do(t, req{Method: "POST", Path: "/fn/sync-emitter?fail=1", Body: "99"})
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("failing call: %d %s", r.Status, r.Body)
	}
	if _, code := r.errorBody(t); code != "script_error" {
		t.Fatalf("failing call code = %q", code)
	}

	// A handler that answers 5xx failed by its own account: nothing is
	// published either.
	r = hh.do(t, req{Method: "POST", Path: "/fn/sync-emitter?answer=503", Body: "98"})
	if r.Status != http.StatusServiceUnavailable || string(r.Body) != "refused" {
		t.Fatalf("5xx call: %d %s", r.Status, r.Body)
	}

	// /fn/NAME: the event is in the log when the answer arrives.
	r = hh.do(t, req{Method: "POST", Path: "/fn/sync-emitter", Body: "1"})
	if r.Status != http.StatusOK || string(r.Body) != "emitted 1" {
		t.Fatalf("call: %d %q", r.Status, r.Body)
	}
	id1 := r.Header.Get("X-PiCloud-Invocation-Id")
	l := hh.events(t, "sync-orders")
	if len(l.Events) != 1 || l.Events[0].Source != "fn:sync-emitter" || !jsonEqual(t, l.Events[0].Payload, `{"n":1,"via":"POST"}`) {
		t.Fatalf("event log after the call = %+v", l)
	}
	// Its record was written with the events, not later in a batch.
	if inv := hh.getInvocation(t, id1); inv["status"] != "succeeded" || inv["http_status"] != float64(200) {
		t.Fatalf("invocation of the emitting call = %v", inv)
	}

	// POST /api/v1/functions/NAME/invoke publishes too.
	r = hh.do(t, req{Method: "POST", Path: "/api/v1/functions/sync-emitter/invoke", Token: hh.admin, Body: "2"})
	if r.Status != http.StatusOK || string(r.Body) != "emitted 2" {
		t.Fatalf("invoke: %d %q", r.Status, r.Body)
	}
	l = hh.events(t, "sync-orders")
	if len(l.Events) != 2 || !jsonEqual(t, l.Events[1].Payload, `{"n":2,"via":"POST"}`) {
		t.Fatalf("event log after invoke = %+v", l)
	}

	// The subscriber runs once per published event, never for the failed call.
	eventually(t, "the subscriber ran for both events", func() bool {
		n := 0
		for _, inv := range hh.invocationsOf(t, "sync-sub") {
			if inv["trigger"] == "event" && inv["status"] == "succeeded" {
				n++
			}
		}
		return n == 2
	})
	var logs []string
	for _, inv := range hh.invocationsOf(t, "sync-sub") {
		logs = append(logs, toJSON(t, hh.getInvocation(t, inv["id"].(string))["logs"]))
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "got order 1 on sync-orders") || !strings.Contains(all, "got order 2 on sync-orders") ||
		strings.Contains(all, "got order 99") {
		t.Fatalf("subscriber logs: %s", all)
	}
	if n := len(hh.events(t, "sync-orders").Events); n != 2 {
		t.Fatalf("%d events on sync-orders, want 2 (the failed call must publish nothing)", n)
	}
}

// An emitted event the events service cannot publish (a bad topic) fails
// the call with the reason, recorded as failed; nothing is published.
func TestServe_SyncCallWithInvalidEventFails(t *testing.T) {
	hh := need(t)
	hh.deploy(t, map[string]any{"name": "sync-badtopic", "source": `function handle(req)
  events.emit("sync-good", 1)
  events.emit("bad topic!", 2)
  return "should not be seen"
end
`})
	r := hh.do(t, req{Method: "GET", Path: "/fn/sync-badtopic"})
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("call: %d %s", r.Status, r.Body)
	}
	msg, code := r.errorBody(t)
	if code != "script_error" || !strings.Contains(msg, `"bad topic!"`) {
		t.Fatalf("error = %q %q", code, msg)
	}
	inv := hh.getInvocation(t, r.Header.Get("X-PiCloud-Invocation-Id"))
	if inv["status"] != "failed" || !strings.Contains(fmt.Sprint(inv["error"]), "bad topic!") {
		t.Fatalf("invocation = %v", inv)
	}
	if l := hh.events(t, "sync-good"); len(l.Events) != 0 {
		t.Fatalf("events of a failed call were published: %+v", l)
	}
}

// An asynchronous call's answer is shown by GET /api/v1/invocations/:id,
// but not in the list.
func TestServe_AsyncCallResultIsShown(t *testing.T) {
	hh := need(t)
	hh.deploy(t, map[string]any{"name": "async-result", "allow_async": true, "source": `function handle(req)
  return { status = 201, headers = { ["content-type"] = "text/plain" }, body = "done " .. req.body }
end
`})
	for _, c := range []req{
		{Method: "POST", Path: "/fn/async-result", Body: "via fn", Header: map[string]string{"X-PiCloud-Async": "1"}},
		{Method: "POST", Path: "/api/v1/functions/async-result/invoke?async=1", Token: hh.admin, Body: "via invoke"},
	} {
		r := hh.do(t, c)
		if r.Status != http.StatusAccepted {
			t.Fatalf("%s %s: %d %s", c.Method, c.Path, r.Status, r.Body)
		}
		var acc struct {
			InvocationID string `json:"invocation_id"`
			Status       string `json:"status"`
		}
		r.JSON(t, &acc)
		if acc.InvocationID == "" || acc.Status != "queued" {
			t.Fatalf("202 body = %s", r.Body)
		}
		var inv map[string]any
		eventually(t, "async invocation "+acc.InvocationID+" finished", func() bool {
			inv = hh.getInvocation(t, acc.InvocationID)
			return inv["status"] == "succeeded" || inv["status"] == "failed"
		})
		res, _ := inv["result"].(map[string]any)
		want := "done " + c.Body.(string)
		if inv["status"] != "succeeded" || res == nil || res["status"] != float64(201) || res["body"] != want {
			t.Fatalf("invocation = %v, want succeeded with result 201 %q", inv, want)
		}
	}
	for _, inv := range hh.invocationsOf(t, "async-result") {
		if _, ok := inv["result"]; ok {
			t.Fatalf("the invocation list shows results: %v", inv)
		}
	}
}

// jsonEqual reports whether the JSON got encodes the same value as want.
func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return toJSON(t, a) == toJSON(t, b)
}

// The events routes authenticate with the API's own check (no hidden
// probe routes): no token is 401, a token without the scope 403.
func TestServe_EventsRoutesUseTheAPIAuth(t *testing.T) {
	hh := need(t)
	for _, p := range []string{"/api/v1/_events/auth/read", "/api/v1/_events/auth/publish"} {
		if r := hh.do(t, req{Method: "GET", Path: p, Token: hh.admin}); r.Status != http.StatusNotFound {
			t.Fatalf("GET %s: %d %s, want 404", p, r.Status, r.Body)
		}
	}
	r := hh.do(t, req{Method: "POST", Path: "/api/v1/events/auth-topic", Body: `{}`})
	if _, code := r.errorBody(t); r.Status != http.StatusUnauthorized || code != "unauthorized" ||
		!strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("publish without a token: %d %s %v", r.Status, r.Body, r.Header)
	}
	reader := hh.token(t, "events-reader", "read")
	r = hh.do(t, req{Method: "POST", Path: "/api/v1/events/auth-topic", Token: reader, Body: `{}`})
	if msg, code := r.errorBody(t); r.Status != http.StatusForbidden || code != "forbidden" || !strings.Contains(msg, "publish") {
		t.Fatalf("publish with a read token: %d %s", r.Status, r.Body)
	}
	r = hh.do(t, req{Method: "POST", Path: "/api/v1/events/tickets", Token: reader})
	if r.Status != http.StatusCreated {
		t.Fatalf("ticket with a read token: %d %s", r.Status, r.Body)
	}
	publisher := hh.token(t, "events-publisher", "publish")
	r = hh.do(t, req{Method: "POST", Path: "/api/v1/events/auth-topic", Token: publisher, Body: `{"a":1}`})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish with a publish token: %d %s", r.Status, r.Body)
	}
	if l := hh.events(t, "auth-topic"); len(l.Events) != 1 || l.Events[0].Source != "token:events-publisher" {
		t.Fatalf("event log = %+v", l)
	}
}
