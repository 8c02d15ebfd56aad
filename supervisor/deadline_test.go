package supervisor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

func TestCallDeadline_TimeoutOrTheCallersEarlierDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	bg := context.Background()
	ctxAt := func(at time.Time) context.Context {
		ctx, cancel := context.WithDeadline(bg, at)
		t.Cleanup(cancel)
		return ctx
	}
	cases := []struct {
		name       string
		ctx        context.Context
		wantAt     time.Time
		wantBudget time.Duration
	}{
		{"no caller deadline", bg, now.Add(10 * time.Second), 10 * time.Second},
		{"caller deadline later", ctxAt(now.Add(time.Minute)), now.Add(10 * time.Second), 10 * time.Second},
		{"caller deadline earlier", ctxAt(now.Add(3 * time.Second)), now.Add(3 * time.Second), 3 * time.Second},
		{"caller deadline passed", ctxAt(now.Add(-time.Second)), now.Add(-time.Second), -time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at, budget := callDeadline(c.ctx, now, 10*time.Second)
			require.True(t, at.Equal(c.wantAt), "deadline %v, want %v", at, c.wantAt)
			require.Equal(t, c.wantBudget, budget)
		})
	}
}

// The deadline the supervisor decides is the one the process is given:
// the function's timeout from the call's start, or the caller's deadline
// when that comes first.
func TestPoolLogic_ProcessGetsTheSupervisorsDeadline(t *testing.T) {
	b := setupFake(t, nil)
	fn := fakeFn("dl", func(l *functions.Limits) { l.Timeout = 7 * time.Second })

	before := time.Now()
	_, err := b.sup.Invoke(context.Background(), fn, &protocol.Request{})
	require.NoError(t, err)
	got := time.Unix(0, b.l.deadline.Load())
	require.False(t, got.Before(before.Add(7*time.Second)), "deadline %v is before start+timeout", got)
	require.False(t, got.After(time.Now().Add(7*time.Second)), "deadline %v is after end+timeout", got)

	callerDL := time.Now().Add(2 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), callerDL)
	defer cancel()
	_, err = b.sup.Invoke(ctx, fn, &protocol.Request{})
	require.NoError(t, err)
	require.Equal(t, callerDL.UnixNano(), b.l.deadline.Load(), "the caller's earlier deadline")
}
