package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Schedule runs a function on a cron expression.
type Schedule struct {
	ID       int64           `json:"id"`
	Function string          `json:"function"`
	Expr     string          `json:"expr"`
	TZ       string          `json:"tz"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Enabled  bool            `json:"enabled"`
	// LastTickAt is the newest tick that fired (nil if none yet).
	LastTickAt *time.Time `json:"last_tick_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

const scheduleColumns = `s.id, s.function, s.expr, s.tz, s.payload, s.enabled,
	(SELECT max(tick_at) FROM schedule_ticks t WHERE t.schedule_id = s.id), s.created_at, s.updated_at`

func scanSchedule(r pgx.CollectableRow) (Schedule, error) {
	var sc Schedule
	var payload []byte
	err := r.Scan(&sc.ID, &sc.Function, &sc.Expr, &sc.TZ, &payload, &sc.Enabled, &sc.LastTickAt, &sc.CreatedAt, &sc.UpdatedAt)
	if len(payload) > 0 {
		sc.Payload = payload
	}
	return sc, err
}

// AddSchedule stores a schedule (the caller validated expr and tz). An
// unknown function is ErrNotFound.
func (s *EventStore) AddSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	var payload any
	if len(sc.Payload) > 0 {
		payload = sc.Payload
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO schedules (function, expr, tz, payload, enabled)
		VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at, updated_at`,
		sc.Function, sc.Expr, sc.TZ, payload, sc.Enabled).Scan(&sc.ID, &sc.CreatedAt, &sc.UpdatedAt)
	if err != nil {
		return Schedule{}, interpretError(err, fmt.Sprintf("add schedule for %s", sc.Function))
	}
	return sc, nil
}

// ListSchedules returns the schedules of function ("" for all), oldest
// first; enabledOnly keeps the enabled ones.
func (s *EventStore) ListSchedules(ctx context.Context, function string, enabledOnly bool) ([]Schedule, error) {
	return s.ListSchedulesPage(ctx, function, enabledOnly, 0, 0)
}

// ListSchedulesPage is one page of ListSchedules in one query: at most
// limit schedules (every one when limit <= 0) with an id above afterID.
func (s *EventStore) ListSchedulesPage(ctx context.Context, function string, enabledOnly bool, afterID int64, limit int) ([]Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM schedules s
		WHERE ($1 = '' OR s.function = $1) AND (NOT $2 OR s.enabled) AND s.id > $3 ORDER BY s.id LIMIT $4`,
		function, enabledOnly, afterID, pageLimit(limit))
	if err != nil {
		return nil, interpretError(err, "list schedules")
	}
	out, err := pgx.CollectRows(rows, scanSchedule)
	if err != nil {
		return nil, interpretError(err, "list schedules")
	}
	return out, nil
}

// pageLimit is a LIMIT argument: NULL (no limit) for limit <= 0.
func pageLimit(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}

// GetSchedule returns one schedule, or ErrNotFound.
func (s *EventStore) GetSchedule(ctx context.Context, id int64) (Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM schedules s WHERE s.id = $1`, id)
	if err != nil {
		return Schedule{}, interpretError(err, fmt.Sprintf("get schedule %d", id))
	}
	sc, err := pgx.CollectExactlyOneRow(rows, scanSchedule)
	if err != nil {
		return Schedule{}, interpretError(err, fmt.Sprintf("schedule %d", id))
	}
	return sc, nil
}

// SetScheduleEnabled enables or disables a schedule, or ErrNotFound.
func (s *EventStore) SetScheduleEnabled(ctx context.Context, id int64, enabled bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE schedules SET enabled = $2, updated_at = now() WHERE id = $1`, id, enabled)
	if err != nil {
		return interpretError(err, fmt.Sprintf("update schedule %d", id))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("schedule %d: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteSchedule removes a schedule, or ErrNotFound.
func (s *EventStore) DeleteSchedule(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM schedules WHERE id = $1", id)
	if err != nil {
		return interpretError(err, fmt.Sprintf("delete schedule %d", id))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("schedule %d: %w", id, ErrNotFound)
	}
	return nil
}

// ClaimTickTx records that tick of schedule fired, inside tx. It returns
// false when the tick was already claimed (by this or another node), or
// when the schedule was deleted or disabled meanwhile.
func (s *EventStore) ClaimTickTx(ctx context.Context, tx *Tx, scheduleID int64, tick time.Time, node string) (bool, error) {
	tag, err := tx.tx.Exec(ctx, `INSERT INTO schedule_ticks (schedule_id, tick_at, node)
		SELECT id, $2, $3 FROM schedules WHERE id = $1 AND enabled
		ON CONFLICT (schedule_id, tick_at) DO NOTHING`, scheduleID, tick, node)
	if err != nil {
		return false, interpretError(err, fmt.Sprintf("claim tick %s of schedule %d", tick.Format(time.RFC3339), scheduleID))
	}
	return tag.RowsAffected() == 1, nil
}

// PruneTicks deletes tick records fired before t, keeping the newest of
// each schedule (it shows as last_tick_at).
func (s *EventStore) PruneTicks(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM schedule_ticks t WHERE t.fired_at < $1
		AND t.tick_at < (SELECT max(tick_at) FROM schedule_ticks u WHERE u.schedule_id = t.schedule_id)`, before)
	if err != nil {
		return 0, interpretError(err, "prune schedule ticks")
	}
	return tag.RowsAffected(), nil
}
