package events

import (
	"fmt"
	"time"
)

// MaxPreviewTicks bounds NextTicks.
const MaxPreviewTicks = 20

// NextTicks returns the next n fire times of expr in time zone tz after
// from, as the scheduler computes them (in tz). Errors wrap ErrInvalid.
func NextTicks(expr, tz string, from time.Time, n int) ([]time.Time, error) {
	if n < 1 || n > MaxPreviewTicks {
		return nil, fmt.Errorf("count %d is out of range 1 to %d: %w", n, MaxPreviewTicks, ErrInvalid)
	}
	sched, loc, err := ParseSchedule(expr, tz)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, n)
	t := from
	for range n {
		t = nextTick(sched, loc, t)
		if t.IsZero() {
			break // a schedule that never fires again
		}
		out = append(out, t)
	}
	return out, nil
}
