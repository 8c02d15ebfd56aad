package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picloud/picloud/clock"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr, tz string
		errHas   string // "" means valid
	}{
		{"*/5 * * * *", "", ""},
		{"0 9 * * MON-FRI", "Europe/Berlin", ""},
		{"@every 30s", "", ""},
		{"@hourly", "", ""},
		{"@daily", "UTC", ""},
		{"* * * *", "", "expected exactly 5 fields"},
		{"61 * * * *", "", "end of range (61) above maximum (59)"},
		{"*/5 * * * * *", "", "expected exactly 5 fields"},
		{"@sometimes", "", "unrecognized descriptor"},
		{"@every nope", "", "failed to parse duration"},
		{"* * * * *", "Mars/Olympus", `time zone "Mars/Olympus" is not known`},
		{"0 0 29 2 *", "", ""}, // leap days exist
		{"0 0 30 2 *", "", `cron expression "0 0 30 2 *" never fires: no date matches it`},
		{"0 0 31 4,6,9,11 *", "Europe/Berlin", "never fires"},
	} {
		_, _, err := ParseSchedule(tc.expr, tc.tz)
		switch {
		case tc.errHas == "" && err != nil:
			t.Errorf("%q: %v", tc.expr, err)
		case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%q: err = %v, want one containing %q", tc.expr, err, tc.errHas)
		}
	}
}

func TestNextTick_EveryIsAlignedForAllNodes(t *testing.T) {
	t.Parallel()
	sched, loc, err := ParseSchedule("@every 10s", "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 12, 0, 3, 123, time.UTC)
	a := nextTick(sched, loc, base)
	b := nextTick(sched, loc, base.Add(4*time.Second))
	if !a.Equal(b) || !a.Equal(time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC)) {
		t.Fatalf("ticks %s and %s, want both 12:00:10", a, b)
	}
	cronSched, loc, _ := ParseSchedule("0 9 * * *", "Europe/Berlin")
	if got := nextTick(cronSched, loc, base); !got.Equal(time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("09:00 Berlin after %s = %s", base, got.UTC())
	}
}

func TestFireTick_OnceAcrossServices(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "cron-fn")
	svc1 := startService(t, b, nil)
	svc2 := startService(t, b, nil)
	sc, err := b.es.AddSchedule(context.Background(), store.Schedule{Function: "cron-fn", Expr: "0 0 1 1 *", TZ: "UTC", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	fired := make([]bool, 8)
	for i := range fired {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := svc1
			if i%2 == 1 {
				svc = svc2
			}
			ok, err := svc.FireTick(context.Background(), sc, tick)
			if err != nil {
				t.Errorf("fire: %v", err)
			}
			fired[i] = ok
		}()
	}
	wg.Wait()
	n := 0
	for _, f := range fired {
		if f {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("tick fired %d times, want 1", n)
	}
	c := b.inv.waitCall(t, "cron-fn")
	waitJobsDone(t, b)
	if c.Req.Trigger != protocol.TriggerCron || c.Event["tick"] != "2030-01-01T00:00:00Z" || c.Event["schedule_id"] != float64(sc.ID) {
		t.Errorf("cron req: trigger %q event %v", c.Req.Trigger, c.Event)
	}
	if got := len(b.inv.callsOf("cron-fn")); got != 1 {
		t.Errorf("cron-fn ran %d times, want 1", got)
	}
	// A disabled schedule does not fire.
	if err := b.es.SetScheduleEnabled(context.Background(), sc.ID, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := svc1.FireTick(context.Background(), sc, tick.Add(time.Hour)); ok || err != nil {
		t.Errorf("disabled schedule fired: %v %v", ok, err)
	}
}

// fakeTicks gives a scheduler test a fake clock, started just after a
// multiple of every, and the function that advances it to tick i (1, 2,
// ...) once n schedulers sleep until it.
func fakeTicks(t *testing.T, every time.Duration, n int) (*clock.Fake, func(i int) time.Time) {
	t.Helper()
	base := time.Now().UTC().Truncate(every)
	clk := clock.NewFake(base.Add(every / 10))
	return clk, func(i int) time.Time {
		t.Helper()
		tick := base.Add(time.Duration(i) * every)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := clk.WaitTimers(ctx, n, tick.Equal); err != nil {
			t.Fatalf("schedulers asleep until tick %d (%s): %v", i, tick.Format(time.RFC3339), err)
		}
		clk.AdvanceTo(tick)
		return tick
	}
}

// onFakeClock runs a service's scheduler on clk. Ticks then come
// milliseconds apart, closer than River's insert-notification limiter
// (FetchCooldown) lets a client notify twice, so River also polls often.
func onFakeClock(clk *clock.Fake) func(*Config) {
	return func(c *Config) {
		c.Clock = clk
		c.FetchPollInterval = 100 * time.Millisecond
	}
}

func TestScheduler_TwoServicesEachTickOnce(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "every")
	clk, advanceToTick := fakeTicks(t, 10*time.Second, 2)
	startService(t, b, onFakeClock(clk))
	startService(t, b, onFakeClock(clk))
	// Added after both started: the NOTIFY re-arms their schedulers.
	sc, err := b.es.AddSchedule(context.Background(), store.Schedule{Function: "every", Expr: "@every 10s", TZ: "UTC",
		Payload: json.RawMessage(`{"k":"v"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for i := 1; i <= 3; i++ {
		tick := advanceToTick(i)
		want[tick.Format(time.RFC3339)] = 1
		c := b.inv.waitCount(t, "every", i)
		if string(c.Req.Body) != `{"k": "v"}` {
			t.Errorf("cron body = %s", c.Req.Body)
		}
	}
	if err := b.es.SetScheduleEnabled(context.Background(), sc.ID, false); err != nil {
		t.Fatal(err)
	}
	waitJobsDone(t, b)
	ticks := map[string]int{}
	for _, c := range b.inv.callsOf("every") {
		ticks[c.Event["tick"].(string)]++
	}
	if fmt.Sprint(ticks) != fmt.Sprint(want) {
		t.Errorf("ticks run %v, want each of %v once", ticks, want)
	}
	var rows int
	if err := b.st.Pool().QueryRow(context.Background(), "SELECT count(*) FROM schedule_ticks WHERE schedule_id = $1",
		sc.ID).Scan(&rows); err != nil || rows != len(ticks) {
		t.Errorf("tick rows = %d (%v), deliveries for %d ticks", rows, err, len(ticks))
	}
}

func TestScheduler_MissedTicksSkipped(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "late")
	svc := startService(t, b, nil)
	sc, err := b.es.AddSchedule(context.Background(), store.Schedule{Function: "late", Expr: "0 10 1 5 *", TZ: "UTC", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	sched, loc, _ := ParseSchedule(sc.Expr, sc.TZ)
	due := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	e := &schedEntry{sc: sc, sched: sched, loc: loc, next: due}
	// The process slept for an hour (suspended, or down): the tick is
	// skipped, not fired late, and the next one is in the future.
	now := due.Add(time.Hour).Add(30 * time.Second)
	svc.sched.fireDue(context.Background(), map[int64]*schedEntry{sc.ID: e}, now)
	if !e.next.Equal(time.Date(2031, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("next tick = %s", e.next)
	}
	// On time (within the grace), it fires.
	e.next = due
	svc.sched.fireDue(context.Background(), map[int64]*schedEntry{sc.ID: e}, due.Add(10*time.Millisecond))
	b.inv.waitCall(t, "late")
	waitJobsDone(t, b)
	if got := len(b.inv.callsOf("late")); got != 1 {
		t.Errorf("late ran %d times, want 1 (only the on-time tick)", got)
	}
}

// A schedule row that can never fire (stored before validation refused
// it, or by hand) must not stop the scheduler serving the others.
func TestScheduler_ImpossibleRowDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	b := setupDB(t, "feb", "every")
	ctx := context.Background()
	// Several, so that whatever order a map gives, one comes after the
	// good schedule.
	if _, err := b.st.Pool().Exec(ctx, `INSERT INTO schedules (function, expr, tz, enabled)
		VALUES ('feb', '0 0 30 2 *', 'UTC', true), ('feb', '0 0 31 4 *', 'UTC', true),
		       ('feb', '0 0 30 2 *', 'Europe/Berlin', true), ('feb', '0 0 31 11 *', 'UTC', true)`); err != nil {
		t.Fatal(err)
	}
	clk, advanceToTick := fakeTicks(t, 10*time.Second, 1)
	startService(t, b, onFakeClock(clk))
	if _, err := b.es.AddSchedule(ctx, store.Schedule{Function: "every", Expr: "@every 10s", TZ: "UTC", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		advanceToTick(i)
		b.inv.waitCount(t, "every", i)
	}
	if n := len(b.inv.callsOf("feb")); n != 0 {
		t.Errorf("impossible schedule ran %d times", n)
	}
}
