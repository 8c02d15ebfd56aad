package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picloud/picloud/internal/ssetest"
)

// End-to-end tests of batch publishes and of many events.emit in one
// call: real `picloud serve`, real Lua workers, HTTP on 127.0.0.1.

// seenSource counts its deliveries per event id in kv.
const seenSource = `
function handle(req)
  kv.incr("seen:" .. req.event.id, 1)
  return "ok"
end
`

// waitSeen waits until fn's kv holds n keys (one per event delivered) and
// returns the delivery count of each event id.
func waitSeen(t *testing.T, pool *pgxpool.Pool, fn string, n int) map[int64]int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		rows, err := pool.Query(context.Background(), `SELECT key, value::int FROM kv WHERE function = $1`, fn)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]int{}
		for rows.Next() {
			var k string
			var v int
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			var id int64
			if _, err := fmt.Sscanf(k, "seen:%d", &id); err != nil {
				t.Fatalf("kv key %q: %v", k, err)
			}
			seen[id] = v
		}
		rows.Close()
		if len(seen) >= n || time.Now().After(deadline) {
			return seen
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countEvents returns the events of topic in the log.
func countEvents(t *testing.T, pool *pgxpool.Pool, topic string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE topic = $1`, topic).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type batchAnswer struct {
	Topic  string `json:"topic"`
	Events []struct {
		ID         int64  `json:"id"`
		Topic      string `json:"topic"`
		Deliveries int    `json:"deliveries"`
	} `json:"events"`
	Deliveries int    `json:"deliveries"`
	Error      string `json:"error"`
	Code       string `json:"code"`
}

func TestE2E_BatchPublishDeliversEveryEventAndStreamsThemInOrder(t *testing.T) {
	dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, dbURL, dataDir)
	srv.deploy("sink", seenSource, 3, "concurrency", 8)
	if st := srv.call(http.MethodPost, "/api/v1/triggers", map[string]any{"function": "sink", "topic": "batch"}, nil); st != http.StatusCreated {
		t.Fatalf("add trigger: %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, stream := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?topic=batch",
		http.Header{"Authorization": {"Bearer " + srv.Admin}})
	defer resp.Body.Close()

	const n = 600
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = fmt.Sprintf(`{"i":%d}`, i)
	}
	var out batchAnswer
	if st := srv.call(http.MethodPost, "/api/v1/events/batch?batch=1", []byte("["+strings.Join(payloads, ",")+"]"), &out); st != http.StatusAccepted {
		t.Fatalf("batch publish: %d %+v", st, out)
	}
	if len(out.Events) != n || out.Deliveries != n || out.Topic != "batch" {
		t.Fatalf("answer: %d events, %d deliveries, topic %q; want %d, %d, batch", len(out.Events), out.Deliveries, out.Topic, n, n)
	}
	for i, ev := range out.Events {
		// One transaction under the event log's lock: ids follow the
		// order of the array, without gaps.
		if ev.ID != out.Events[0].ID+int64(i) || ev.Deliveries != 1 || ev.Topic != "batch" {
			t.Fatalf("event %d of the answer: %+v (first id %d)", i, ev, out.Events[0].ID)
		}
	}

	// Every event on the stream, in id order, with its own payload.
	for i := 0; i < n; i++ {
		m, err := stream.Next()
		if err != nil {
			t.Fatalf("stream after %d events: %v", i, err)
		}
		if m.ID != out.Events[i].ID {
			t.Fatalf("stream event %d: id %d, want %d", i, m.ID, out.Events[i].ID)
		}
		var p struct{ I int }
		if err := json.Unmarshal(m.Data.Payload, &p); err != nil || p.I != i {
			t.Fatalf("stream event %d: payload %s", i, m.Data.Payload)
		}
	}

	// Every event delivered (at least once; with no failure here, once).
	seen := waitSeen(t, pool, "sink", n)
	for _, ev := range out.Events {
		if seen[ev.ID] != 1 {
			t.Errorf("event %d delivered %d times", ev.ID, seen[ev.ID])
		}
	}
	if len(seen) != n {
		t.Errorf("%d events delivered, want %d", len(seen), n)
	}
}

func TestE2E_BatchPublishRefusesBadBatchesAndPublishesNothing(t *testing.T) {
	dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, dbURL, dataDir)

	big := "[" + strings.Repeat(`1,`, MaxBatchEvents) + "1]" // MaxBatchEvents + 1 payloads
	cases := []struct {
		name, body, query string
		status            int
		code, says        string
	}{
		{"too many events", big, "batch=1", http.StatusRequestEntityTooLarge, "batch_too_large", "more than 1000"},
		{"not an array", `{"a":1}`, "batch=1", http.StatusBadRequest, "bad_json", "JSON array"},
		{"not JSON", `[1,`, "batch=1", http.StatusBadRequest, "bad_json", "JSON array"},
		{"empty", `[]`, "batch=1", http.StatusBadRequest, "bad_request", "empty"},
		{"one payload too large", `[1,"` + strings.Repeat("x", MaxPayloadBytes) + `"]`, "batch=1",
			http.StatusRequestEntityTooLarge, "body_too_large", "payload 1"},
		{"bad batch flag", `[1]`, "batch=yes", http.StatusBadRequest, "bad_request", "batch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out batchAnswer
			st := srv.call(http.MethodPost, "/api/v1/events/refused?"+c.query, []byte(c.body), &out)
			if st != c.status || out.Code != c.code || !strings.Contains(out.Error, c.says) {
				t.Errorf("%d %q %q; want %d %q and a message saying %q", st, out.Code, out.Error, c.status, c.code, c.says)
			}
		})
	}
	if n := countEvents(t, pool, "refused"); n != 0 {
		t.Errorf("%d events published by refused batches", n)
	}
	// Without ?batch=1 an array is one event, as before.
	var one batchAnswer
	if st := srv.call(http.MethodPost, "/api/v1/events/refused", []byte(`[1,2]`), &one); st != http.StatusAccepted {
		t.Fatalf("array as one payload: %d", st)
	}
	if n := countEvents(t, pool, "refused"); n != 1 {
		t.Errorf("an array without batch=1: %d events, want 1", n)
	}
}

// emitManySource emits req.body.n events on "many", then fails when
// req.body.fail is set.
const emitManySource = `
function handle(req)
  local body = json.decode(req.body)
  for i = 1, body.n do
    events.emit("many", { i = i, run = body.run })
  end
  if body.fail then error("failed after emitting") end
  return "ok"
end
`

func TestE2E_EmitManyInOneCallCommitsAllOrNone(t *testing.T) {
	dbURL, dataDir, pool := e2eSetup(t)
	srv := startServe(t, dbURL, dataDir)
	srv.deploy("emitter", emitManySource, 1)
	srv.deploy("sink", seenSource, 3, "concurrency", 8)
	if st := srv.call(http.MethodPost, "/api/v1/triggers", map[string]any{"function": "sink", "topic": "many"}, nil); st != http.StatusCreated {
		t.Fatalf("add trigger: %d", st)
	}
	const n = 100 // the worker's bound of events per call

	// A failing call publishes none of its events.
	if st := srv.call(http.MethodPost, "/fn/emitter", []byte(fmt.Sprintf(`{"n":%d,"fail":true,"run":1}`, n)), nil); st != http.StatusInternalServerError {
		t.Fatalf("failing call: %d, want 500", st)
	}
	if got := countEvents(t, pool, "many"); got != 0 {
		t.Fatalf("a failed call published %d events", got)
	}

	// A successful call publishes all of them, in one transaction: ids in
	// emit order without gaps, each delivered.
	if st := srv.call(http.MethodPost, "/fn/emitter", []byte(fmt.Sprintf(`{"n":%d,"run":2}`, n)), nil); st != http.StatusOK {
		t.Fatalf("call: %d", st)
	}
	rows, err := pool.Query(context.Background(), `SELECT id, (payload->>'i')::int, source FROM events WHERE topic = 'many' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var i int
		var source string
		if err := rows.Scan(&id, &i, &source); err != nil {
			t.Fatal(err)
		}
		if i != len(ids)+1 || source != "fn:emitter" || (len(ids) > 0 && id != ids[0]+int64(len(ids))) {
			t.Fatalf("event %d: id %d, i %d, source %q (first id %v)", len(ids), id, i, source, ids)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != n {
		t.Fatalf("%d events published, want %d", len(ids), n)
	}
	seen := waitSeen(t, pool, "sink", n)
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %d delivered %d times", id, seen[id])
		}
	}
}
