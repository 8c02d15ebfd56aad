package clock

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to: Advance runs the timers
// that came due, in order, in the caller's goroutine. The zero value is
// not usable; use NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced when a timer is armed
}

var _ Clock = (*Fake)(nil)

type fakeTimer struct {
	c       *Fake
	at      time.Time
	f       func()
	stopped bool
}

// NewFake returns a Fake reading now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that Advance fires once the fake time reaches
// Now()+d.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

// Stop disarms t.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves the clock by d and runs the timers that came due, in the
// order of their deadlines.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, rest []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

// AdvanceTo moves the clock to t (never backwards) and runs the timers
// that came due.
func (c *Fake) AdvanceTo(t time.Time) {
	c.Advance(max(t.Sub(c.Now()), 0))
}

// Pending returns the deadlines of the armed timers, earliest first.
func (c *Fake) Pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.timers {
		if !t.stopped {
			out = append(out, t.at)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// WaitTimer waits until a timer is armed whose deadline satisfies match
// (a component has reached the point where it sleeps), or ctx ends.
func (c *Fake) WaitTimer(ctx context.Context, match func(at time.Time) bool) error {
	return c.WaitTimers(ctx, 1, match)
}

// WaitTimers waits until n armed timers have a deadline satisfying match,
// or ctx ends.
func (c *Fake) WaitTimers(ctx context.Context, n int, match func(at time.Time) bool) error {
	for {
		c.mu.Lock()
		changed := c.changed
		found := 0
		for _, t := range c.timers {
			if !t.stopped && match(t.at) {
				found++
			}
		}
		c.mu.Unlock()
		if found >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d timers armed: %w", found, n, context.Cause(ctx))
		}
	}
}
