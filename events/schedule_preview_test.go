package events

import (
	"errors"
	"testing"
	"time"
)

func TestNextTicks_FollowsTheSchedulerInTheZone(t *testing.T) {
	from := time.Date(2026, 3, 26, 23, 59, 0, 0, time.UTC)
	got, err := NextTicks("0 2 * * *", "Europe/Paris", from, 3)
	if err != nil {
		t.Fatal(err)
	}
	// 29 March 2026 is the spring-forward night in Paris: 02:00 does not
	// exist and the scheduler (robfig/cron) skips that day; so does the preview.
	want := []string{"2026-03-27T02:00:00+01:00", "2026-03-28T02:00:00+01:00", "2026-03-30T02:00:00+02:00"}
	for i, w := range want {
		if i >= len(got) || got[i].Format(time.RFC3339) != w {
			t.Fatalf("NextTicks = %v, want %v", got, want)
		}
	}
	every, err := NextTicks("@every 2s", "", time.Unix(101, 0), 2)
	if err != nil || len(every) != 2 || every[0].Unix() != 102 || every[1].Unix() != 104 {
		t.Fatalf("@every 2s from 101 = %v, %v; want 102 and 104 (aligned on the epoch)", every, err)
	}
	if _, err := NextTicks("61 * * * *", "", from, 5); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad expression: %v, want ErrInvalid", err)
	}
	if _, err := NextTicks("@hourly", "Mars/Olympus", from, 5); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad zone: %v, want ErrInvalid", err)
	}
}
