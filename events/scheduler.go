package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/picloud/picloud/clock"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// cronParser accepts standard 5-field expressions and descriptors (@hourly,
// @every 30s, ...).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// missedTickGrace: a tick noticed later than this (the process was
// suspended or down) is skipped, not fired late.
const missedTickGrace = time.Minute

// ParseSchedule checks a cron expression and time zone and returns the
// schedule. Errors wrap ErrInvalid and name the problem.
func ParseSchedule(expr, tz string) (cron.Schedule, *time.Location, error) {
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, nil, fmt.Errorf("time zone %q is not known: %w", tz, ErrInvalid)
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return nil, nil, fmt.Errorf("cron expression %q: %v: %w", expr, err, ErrInvalid)
	}
	// cron gives up after five years and returns the zero time: an
	// expression no date matches (February 30th) would never fire.
	if nextTick(sched, loc, time.Now()).IsZero() {
		return nil, nil, fmt.Errorf("cron expression %q never fires: no date matches it: %w", expr, ErrInvalid)
	}
	return sched, loc, nil
}

// nextTick returns the first tick of sched strictly after t, in loc.
// "@every D" ticks are aligned on multiples of D since the Unix epoch, so
// every node computes the same tick times.
func nextTick(sched cron.Schedule, loc *time.Location, t time.Time) time.Time {
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		d := every.Delay
		if d < time.Second {
			d = time.Second
		}
		n := t.UnixNano()/int64(d) + 1
		return time.Unix(0, n*int64(d)).In(loc)
	}
	return sched.Next(t.In(loc))
}

// scheduler fires cron ticks. Each node runs one; the schedule_ticks
// primary key makes every tick fire once cluster-wide. It sleeps until the
// next tick of any schedule and reloads on picloud_schedules
// notifications.
type scheduler struct {
	s      *Service
	reload chan struct{}
}

type schedEntry struct {
	sc    store.Schedule
	sched cron.Schedule
	loc   *time.Location
	next  time.Time
}

func newScheduler(s *Service) *scheduler {
	return &scheduler{s: s, reload: make(chan struct{}, 1)}
}

// poke makes the scheduler reload the schedules.
func (c *scheduler) poke() {
	select {
	case c.reload <- struct{}{}:
	default:
	}
}

func (c *scheduler) load(ctx context.Context, old map[int64]*schedEntry) map[int64]*schedEntry {
	list, err := c.s.st.ListSchedules(ctx, "", true)
	if err != nil {
		if ctx.Err() == nil {
			c.s.log.Error("load schedules", "error", err)
		}
		return old
	}
	now := c.s.cfg.Now()
	out := make(map[int64]*schedEntry, len(list))
	for _, sc := range list {
		if e, ok := old[sc.ID]; ok && e.sc.Expr == sc.Expr && e.sc.TZ == sc.TZ {
			e.sc = sc
			out[sc.ID] = e // keep its next tick: a reload must not skip it
			continue
		}
		sched, loc, err := ParseSchedule(sc.Expr, sc.TZ)
		if err != nil {
			c.s.log.Error("schedule cannot be parsed: skipped", "schedule_id", sc.ID, "error", err)
			continue
		}
		next := nextTick(sched, loc, now)
		if next.IsZero() {
			c.s.log.Error("schedule never fires: skipped", "schedule_id", sc.ID, "expr", sc.Expr)
			continue
		}
		out[sc.ID] = &schedEntry{sc: sc, sched: sched, loc: loc, next: next}
	}
	return out
}

func (c *scheduler) run(ctx context.Context) {
	clk := c.s.cfg.Clock
	entries := c.load(ctx, nil)
	fire := make(chan struct{}, 1)
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var earliest time.Time
		for _, e := range entries {
			if e.next.IsZero() {
				continue // never fires (fireDue drops it): it must not stop the others
			}
			if earliest.IsZero() || e.next.Before(earliest) {
				earliest = e.next
			}
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if !earliest.IsZero() {
			timer = clk.AfterFunc(max(earliest.Sub(clk.Now()), 0), func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-c.reload:
			entries = c.load(ctx, entries)
		case <-fire:
			// A stale wake-up (from a timer stopped after it fired) finds
			// nothing due.
			c.fireDue(ctx, entries, clk.Now())
		}
	}
}

// fireDue fires every entry whose next tick is due at now and moves it to
// its following tick.
func (c *scheduler) fireDue(ctx context.Context, entries map[int64]*schedEntry, now time.Time) {
	for id, e := range entries {
		if e.next.IsZero() {
			delete(entries, id)
			continue
		}
		if e.next.After(now) {
			continue
		}
		if now.Sub(e.next) <= missedTickGrace {
			if _, err := c.s.FireTick(ctx, e.sc, e.next); err != nil && ctx.Err() == nil {
				c.s.log.Error("fire schedule tick", "schedule_id", e.sc.ID, "tick", e.next, "error", err)
			}
		} else {
			c.s.log.Info("missed schedule tick skipped", "schedule_id", e.sc.ID, "tick", e.next)
		}
		e.next = nextTick(e.sched, e.loc, maxTime(now, e.next))
		if e.next.IsZero() {
			c.s.log.Error("schedule has no next tick: skipped until it changes", "schedule_id", e.sc.ID, "expr", e.sc.Expr)
			delete(entries, id)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cronView is req.event of a cron delivery.
type cronView struct {
	ScheduleID int64           `json:"schedule_id"`
	Expr       string          `json:"expr"`
	TZ         string          `json:"tz"`
	Tick       time.Time       `json:"tick"`
	Payload    json.RawMessage `json:"payload"`
}

// FireTick queues the delivery of tick of schedule sc unless that tick
// already fired (here or on another node); it reports whether this call
// fired it.
func (s *Service) FireTick(ctx context.Context, sc store.Schedule, tick time.Time) (bool, error) {
	fn, err := s.cfg.Functions.Get(ctx, sc.Function)
	if err != nil {
		return false, fmt.Errorf("schedule %d: %w", sc.ID, err)
	}
	tick = tick.UTC().Truncate(time.Second)
	payload := sc.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	view, err := json.Marshal(cronView{ScheduleID: sc.ID, Expr: sc.Expr, TZ: sc.TZ, Tick: tick, Payload: payload})
	if err != nil {
		return false, fmt.Errorf("encode tick: %w", err)
	}
	fired := false
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		ok, err := s.st.ClaimTickTx(ctx, tx, sc.ID, tick, s.cfg.NodeID)
		if err != nil || !ok {
			return err
		}
		err = s.queue.InsertTx(ctx, tx, DeliveryArgs{
			Function: sc.Function, Trigger: protocol.TriggerCron, ScheduleID: sc.ID,
			PublishedAt: tick, Payload: payload, Event: view,
		}, &river.InsertOpts{Queue: queueName, MaxAttempts: max(fn.MaxAttempts, 1)})
		if err != nil {
			return fmt.Errorf("queue tick: %w", err)
		}
		fired = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("fire tick %s of schedule %d: %w", tick.Format(time.RFC3339), sc.ID, err)
	}
	return fired, nil
}
