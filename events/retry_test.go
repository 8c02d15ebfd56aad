package events

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/clock"
)

// The wake-up of a due retry runs on the injected clock: nothing wakes the
// queue until the clock reaches the retry, then River's insert channel is
// notified.
func TestWakeAt_WakesTheQueueWhenTheClockReachesTheRetry(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	clk := clock.NewFake(time.Now())
	svc := startService(t, b, func(c *Config) { c.Clock = clk })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN "public.river_insert"`); err != nil {
		t.Fatal(err)
	}

	due := clk.Now().Add(3 * time.Second)
	svc.wakeAt(3 * time.Second)
	if err := clk.WaitTimer(ctx, due.Equal); err != nil {
		t.Fatalf("no wake-up armed on the clock: %v", err)
	}
	clk.Advance(3*time.Second - time.Millisecond)
	if p := clk.Pending(); len(p) == 0 || !p[len(p)-1].Equal(due) {
		t.Fatalf("wake-up fired early: pending %v", p)
	}
	clk.Advance(time.Millisecond)
	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		t.Fatalf("no wake-up notification: %v", err)
	}
	if n.Payload != `{"queue":"picloud"}` {
		t.Errorf("wake-up payload %s", n.Payload)
	}
}
