package clock

import (
	"context"
	"testing"
	"time"
)

func TestFake_AdvanceFiresDueTimersInOrderAndNotStopped(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(start)
	var got []string
	c.AfterFunc(2*time.Second, func() { got = append(got, "b") })
	c.AfterFunc(time.Second, func() { got = append(got, "a") })
	stopped := c.AfterFunc(time.Second, func() { got = append(got, "stopped") })
	c.AfterFunc(time.Hour, func() { got = append(got, "late") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports wrongly whether it stopped the timer")
	}
	c.Advance(2 * time.Second)
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("fired %v, want [a b]", got)
	}
	if p := c.Pending(); len(p) != 1 || !p[0].Equal(start.Add(time.Hour)) {
		t.Fatalf("pending %v", p)
	}
	c.AdvanceTo(start) // never backwards
	if !c.Now().Equal(start.Add(2 * time.Second)) {
		t.Fatalf("now = %s", c.Now())
	}
}

func TestFake_WaitTimerSeesATimerArmedLater(t *testing.T) {
	t.Parallel()
	c := NewFake(time.Unix(0, 0))
	go func() { c.AfterFunc(time.Minute, func() {}) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitTimer(ctx, func(at time.Time) bool { return at.Equal(time.Unix(60, 0)) }); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := c.WaitTimer(short, func(time.Time) bool { return false }); err == nil {
		t.Fatal("WaitTimer returned nil for a timer never armed")
	}
}
