package store

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/google/uuid"
)

// FunctionStats is one function with its calls over a recent window.
type FunctionStats struct {
	Name      string
	Version   int
	Private   bool
	UpdatedAt time.Time
	Calls     int64
	Errors    int64
	// P50MS and P99MS are the duration percentiles of finished calls, in
	// milliseconds (0 without calls).
	P50MS float64
	P99MS float64
}

// Overview is the dashboard's first page: functions with their recent
// figures, and the dead letters waiting.
type Overview struct {
	Functions   []FunctionStats
	DeadLetters int64
}

// MaxOverviewFunctions bounds one overview page.
const MaxOverviewFunctions = 200

// FunctionOverview returns up to limit functions named after `after`, in
// name order, each with its calls, errors and duration percentiles since
// `since`, and the number of dead letters: one query. The window's rows
// are found by the (function, id) index per function, the count of dead
// letters by a scan of that (small) table. Ids are UUIDv7, so the window
// is an id range of the (function, id) index.
func (s *Store) FunctionOverview(ctx context.Context, after string, limit int, since time.Time) (*Overview, error) {
	if limit <= 0 || limit > MaxOverviewFunctions {
		limit = MaxOverviewFunctions
	}
	rows, err := s.pool.Query(ctx, `WITH page AS (
			SELECT f.name, COALESCE(f.current_version, 0) AS version, f.private, f.updated_at
			FROM functions f WHERE f.name > $1 ORDER BY f.name LIMIT $2
		)
		SELECT p.name, p.version, p.private, p.updated_at,
			COALESCE(st.calls, 0), COALESCE(st.errors, 0), COALESCE(st.p50, 0), COALESCE(st.p99, 0),
			(SELECT count(*) FROM dead_letters)
		FROM page p LEFT JOIN LATERAL (
			SELECT count(*) AS calls,
				count(*) FILTER (WHERE i.status = 'failed') AS errors,
				percentile_cont(0.5) WITHIN GROUP (ORDER BY i.duration_us) / 1000.0 AS p50,
				percentile_cont(0.99) WITHIN GROUP (ORDER BY i.duration_us) / 1000.0 AS p99
			FROM invocations i
			WHERE i.function = p.name AND i.id >= $3 AND i.status IN ('succeeded', 'failed')
		) st ON true
		ORDER BY p.name`, after, limit, uuidAt(since))
	if err != nil {
		return nil, interpretError(err, "function overview")
	}
	defer rows.Close()
	out := &Overview{Functions: []FunctionStats{}}
	for rows.Next() {
		var f FunctionStats
		if err := rows.Scan(&f.Name, &f.Version, &f.Private, &f.UpdatedAt, &f.Calls, &f.Errors,
			&f.P50MS, &f.P99MS, &out.DeadLetters); err != nil {
			return nil, interpretError(err, "scan function overview")
		}
		out.Functions = append(out.Functions, f)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "function overview")
	}
	if len(out.Functions) == 0 {
		// No function on this page: the count still comes from one query.
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&out.DeadLetters); err != nil {
			return nil, interpretError(err, "count dead letters")
		}
	}
	return out, nil
}

// uuidAt is the smallest UUIDv7 of the millisecond t: ids at or after t
// compare greater or equal.
func uuidAt(t time.Time) uuid.UUID {
	var u uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[0:6], ms[2:8])
	u[6] = 0x70
	u[8] = 0x80
	return u
}
