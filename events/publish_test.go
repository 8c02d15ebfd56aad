package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/picloud/picloud/store"
)

// TestPublishBatch_ConcurrentBatchesStayWholeAndInOrder publishes batches
// and single events from many goroutines at once, so the publisher puts
// several requests in one transaction: each batch's events keep their
// order with consecutive ids, and every event gets its delivery.
func TestPublishBatch_ConcurrentBatchesStayWholeAndInOrder(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "sink")
	svc := startService(t, b, nil)
	addTrigger(t, b, "sink", store.TriggerKindTopic, "t")
	ctx := context.Background()

	const batches, size, singles = 12, 60, 40
	var wg sync.WaitGroup
	got := make([][]Published, batches)
	for g := 0; g < batches; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payloads := make([]json.RawMessage, size)
			for i := range payloads {
				payloads[i] = json.RawMessage(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
			}
			out, err := svc.PublishBatch(ctx, "t", payloads, "test")
			if err != nil {
				t.Errorf("batch %d: %v", g, err)
				return
			}
			got[g] = out
		}()
	}
	for s := 0; s < singles; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.Publish(ctx, "t", json.RawMessage(`{"single":true}`), "test"); err != nil {
				t.Errorf("single %d: %v", s, err)
			}
		}()
	}
	wg.Wait()
	for g, out := range got {
		if len(out) != size {
			t.Fatalf("batch %d: %d events, want %d", g, len(out), size)
		}
		for i, p := range out {
			var v struct{ G, I int }
			if err := json.Unmarshal(p.Event.Payload, &v); err != nil || v.G != g || v.I != i {
				t.Fatalf("batch %d event %d: payload %s", g, i, p.Event.Payload)
			}
			if p.Event.ID != out[0].Event.ID+int64(i) || p.Deliveries != 1 {
				t.Fatalf("batch %d event %d: id %d (first %d), %d deliveries", g, i, p.Event.ID, out[0].Event.ID, p.Deliveries)
			}
		}
	}
	total := batches*size + singles
	b.inv.waitCount(t, "sink", total)
	waitJobsDone(t, b)
	if n := len(b.inv.callsOf("sink")); n != total {
		t.Errorf("sink ran %d times, want %d", n, total)
	}
}

func TestPublishBatch_RefusesTooManyOrBadPayloadsAndPublishesNone(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	ctx := context.Background()
	many := make([]json.RawMessage, MaxBatchEvents+1)
	for i := range many {
		many[i] = json.RawMessage(`1`)
	}
	if _, err := svc.PublishBatch(ctx, "t", many, "test"); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("%d events: %v, want ErrBatchTooLarge", len(many), err)
	}
	if _, err := svc.PublishBatch(ctx, "t", []json.RawMessage{json.RawMessage(`1`), json.RawMessage(`{`)}, "test"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad payload: %v, want ErrInvalid", err)
	}
	if _, err := svc.PublishBatch(ctx, "t", nil, "test"); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty batch: %v, want ErrInvalid", err)
	}
	var n int
	if err := b.st.Pool().QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d events published by refused batches (%v)", n, err)
	}
}
