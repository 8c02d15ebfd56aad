package events

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// loopWindow bounds how long the loop test waits for the dead letter that
// ends the loop.
const loopWindow = 20 * time.Second

func TestHops_SelfEmittingHandlerStopsWithOneDeadLetter(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "watcher")
	deploy(t, b.st, "looper", 5) // retries would be allowed: the hop limit skips them
	svc := startService(t, b, nil)
	addTrigger(t, b, "looper", store.TriggerKindTopic, "loop")
	addTrigger(t, b, "watcher", store.TriggerKindDeadLetters, "")
	b.inv.set("looper", func(req *protocol.Request) (*protocol.Response, error) {
		// Emits to the topic that triggers it: a loop.
		return &protocol.Response{Status: 200, Events: []protocol.Event{{Topic: "loop", Payload: []byte(`{"again":true}`)}}}, nil
	})

	if _, err := svc.Publish(context.Background(), "loop", json.RawMessage(`{"start":true}`), "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(loopWindow)
	var dls []store.DeadLetter
	for len(dls) == 0 {
		var err error
		if dls, err = b.es.ListDeadLetters(context.Background(), "looper", 0, 10); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter within %s: looper ran %d times and still loops", loopWindow, len(b.inv.callsOf("looper")))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
	b.inv.waitCall(t, "watcher")
	waitJobsDone(t, b)

	// Hops 0 (the publish) to MaxHops ran, once each; hop MaxHops+1 did not.
	calls := b.inv.callsOf("looper")
	if len(calls) != MaxHops+1 {
		t.Fatalf("looper ran %d times, want %d (hops 0 to %d)", len(calls), MaxHops+1, MaxHops)
	}
	for i, c := range calls {
		if c.Event["hop"] != float64(i) {
			t.Errorf("run %d: req.event.hop = %v, want %d", i, c.Event["hop"], i)
		}
	}
	dls, err := b.es.ListDeadLetters(context.Background(), "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || len(dls[0].Attempts) != 1 {
		t.Fatalf("dead letters %+v, want one, after one attempt", dls)
	}
	if e := dls[0].Attempts[0].Error; !strings.Contains(e, "hop limit") || !strings.Contains(e, "17 hops") {
		t.Errorf("dead letter error %q, want it to name the hop limit", e)
	}
	// The dead-letter handler ran once, one hop further, and nothing else
	// is pending.
	if w := b.inv.callsOf("watcher"); len(w) != 1 {
		t.Errorf("dead-letter handler ran %d times, want 1", len(w))
	}
}

func TestHops_DirectPublishAndChainCountFromZero(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "first", "second")
	svc := startService(t, b, nil)
	addTrigger(t, b, "first", store.TriggerKindTopic, "a")
	addTrigger(t, b, "second", store.TriggerKindTopic, "b")
	b.inv.set("first", func(req *protocol.Request) (*protocol.Response, error) {
		return &protocol.Response{Status: 200, Events: []protocol.Event{{Topic: "b", Payload: []byte(`1`)}}}, nil
	})
	if _, err := svc.Publish(context.Background(), "a", json.RawMessage(`1`), "test"); err != nil {
		t.Fatal(err)
	}
	c1 := b.inv.waitCall(t, "first")
	c2 := b.inv.waitCount(t, "second", 1)
	waitJobsDone(t, b)
	if c1.Event["hop"] != float64(0) || c2.Event["hop"] != float64(1) {
		t.Errorf("hops %v then %v, want 0 then 1", c1.Event["hop"], c2.Event["hop"])
	}
}
