package events

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/picloud/picloud/store"
)

// TestFence_FencedNodeClaimsNoJobUntilLifted: a fenced node (it lost its
// heartbeat) leaves a published delivery alone; once the fence is lifted
// it claims and runs it.
func TestFence_FencedNodeClaimsNoJobUntilLifted(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "orders")
	svc := startService(t, b, nil)
	addTrigger(t, b, "orders", store.TriggerKindTopic, "order.created")
	// River starts with the service; fence it once it runs (a fence set
	// while River is starting takes effect once it has started).
	deadline := time.Now().Add(30 * time.Second)
	for !svc.runner.isRunning.Load() {
		if time.Now().After(deadline) {
			t.Fatal("River did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc.Fence(true)
	for svc.runner.isRunning.Load() {
		if time.Now().After(deadline) {
			t.Fatal("River still runs 30s after the fence")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := svc.Publish(context.Background(), "order.created", json.RawMessage(`{"n":1}`), "test"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // long enough for River to have claimed it
	if got := len(b.inv.callsOf("orders")); got != 0 {
		t.Fatalf("a fenced node ran orders %d times", got)
	}
	var available int
	if err := b.st.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE state = 'available'`).Scan(&available); err != nil || available != 1 {
		t.Fatalf("available jobs = %d (%v), want the delivery left unclaimed", available, err)
	}
	svc.Fence(false)
	b.inv.waitCall(t, "orders")
	waitJobsDone(t, b)
}
