// Package clock is the time source of PiCloud's long-lived components (the
// supervisor's idle, queue and backstop timers, the cron scheduler, the
// events retry wake-ups): the real clock in production, a Fake in tests, so
// a test advances time instead of sleeping through it.
package clock

import "time"

// Clock gives the time and arms timers.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d (the Fake calls it
	// from Advance).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer armed by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// Real is the system clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// OrReal returns c, or the real clock when c is nil.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
