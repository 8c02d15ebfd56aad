package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// invocationRow is inv as the values of insertColumns: the one place an
// invocation becomes a row, whatever writes it (the batched writer, an
// async invocation queued or finished, a delivery), so every path stores
// the same sanitized text (valid UTF-8 without NUL: a path or a Lua error
// may hold any bytes) and the same bounded result.
func invocationRow(id uuid.UUID, inv functions.Invocation) ([]any, error) {
	logs, err := encodeLogs(inv.Logs)
	if err != nil {
		return nil, fmt.Errorf("encode logs of %s: %w", inv.ID, err)
	}
	result, truncated := inv.Result, inv.ResultTruncated
	if len(result) > functions.MaxResultBytes {
		result, truncated = result[:functions.MaxResultBytes], true
	}
	var started *time.Time
	if !inv.StartedAt.IsZero() {
		started = &inv.StartedAt
	}
	return []any{id, cleanText(inv.Function), int32(inv.Version), cleanText(inv.Trigger), cleanText(inv.Status),
		cleanText(inv.Method), cleanText(inv.Path), int32(inv.HTTPStatus), cleanText(inv.Error), logs,
		int32(inv.LogsDropped), result, truncated, started, inv.Duration.Microseconds()}, nil
}

// logJSON is how a log line is stored in invocations.logs.
type logJSON struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// cleanText makes s storable as PostgreSQL text and jsonb: valid UTF-8
// without NUL (a Lua script can log any bytes).
func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func encodeLogs(logs []protocol.LogEntry) ([]byte, error) {
	out := make([]logJSON, len(logs))
	for i, l := range logs {
		out[i] = logJSON{Time: l.Time, Level: cleanText(l.Level), Message: cleanText(l.Message)}
	}
	return json.Marshal(out)
}

func decodeLogs(b []byte) ([]protocol.LogEntry, error) {
	var in []logJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	out := make([]protocol.LogEntry, len(in))
	for i, l := range in {
		out[i] = protocol.LogEntry{Time: l.Time, Level: l.Level, Message: l.Message}
	}
	return out, nil
}

// insertColumns are the columns InsertInvocations writes, in row order.
var insertColumns = []string{"id", "function", "version", "trigger", "status", "method", "path",
	"http_status", "error", "logs", "logs_dropped", "result", "result_truncated", "started_at", "duration_us"}

// InsertInvocations writes a batch of invocation records: with COPY when
// every id is new (the common case: records of synchronous calls), else
// with one multi-row upsert, where a record whose id exists replaces the
// stored one (an async invocation is inserted queued, then written again
// when it ends). Within a batch, the last record of an id wins. Text is
// made valid UTF-8 without NUL, so anything a script logs is storable.
func (s *Store) InsertInvocations(ctx context.Context, invs []functions.Invocation) error {
	if len(invs) == 0 {
		return nil
	}
	// Deduplicate: one statement cannot write a row twice.
	index := make(map[uuid.UUID]int, len(invs))
	rows := make([][]any, 0, len(invs))
	for _, inv := range invs {
		id, err := uuid.Parse(inv.ID)
		if err != nil {
			return fmt.Errorf("insert invocations: id %q: %w", inv.ID, ErrInvalid)
		}
		row, err := invocationRow(id, inv)
		if err != nil {
			return fmt.Errorf("insert invocations: %w", err)
		}
		if i, dup := index[id]; dup {
			rows[i] = row
			continue
		}
		index[id] = len(rows)
		rows = append(rows, row)
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"invocations"}, insertColumns, pgx.CopyFromRows(rows))
	if err == nil {
		return nil
	}
	if err = interpretError(err, fmt.Sprintf("copy %d invocations", len(rows))); !errors.Is(err, ErrConflict) {
		return err
	}
	return s.upsertInvocations(ctx, rows)
}

// upsertInvocations writes rows (as InsertInvocations builds them) in one
// INSERT ... ON CONFLICT statement over arrays.
func (s *Store) upsertInvocations(ctx context.Context, rows [][]any) error {
	n := len(rows)
	var (
		ids                                        = make([]uuid.UUID, n)
		function, trigger, status, method, path, e = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		version, httpStatus, logsDropped           = make([]int32, n), make([]int32, n), make([]int32, n)
		logs, result                               = make([][]byte, n), make([][]byte, n)
		truncated                                  = make([]bool, n)
		started                                    = make([]*time.Time, n)
		durationUS                                 = make([]int64, n)
	)
	for i, r := range rows {
		ids[i], function[i], version[i], trigger[i], status[i] = r[0].(uuid.UUID), r[1].(string), r[2].(int32), r[3].(string), r[4].(string)
		method[i], path[i], httpStatus[i], e[i], logs[i] = r[5].(string), r[6].(string), r[7].(int32), r[8].(string), r[9].([]byte)
		logsDropped[i], result[i], truncated[i], started[i], durationUS[i] = r[10].(int32), r[11].([]byte), r[12].(bool), r[13].(*time.Time), r[14].(int64)
	}
	text := func(b [][]byte) []string { // jsonb arrays go as text[]
		out := make([]string, len(b))
		for i := range b {
			out[i] = string(b[i])
		}
		return out
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO invocations (id, function, version, trigger, status, method, path,
			http_status, error, logs, logs_dropped, result, result_truncated, started_at, duration_us)
		SELECT u.id, u.function, u.version, u.trigger, u.status, u.method, u.path,
			u.http_status, u.error, u.logs::jsonb, u.logs_dropped, u.result, u.result_truncated, u.started_at, u.duration_us
		FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::int[], $9::text[], $10::text[], $11::int[], $12::bytea[], $13::bool[], $14::timestamptz[], $15::bigint[])
			AS u(id, function, version, trigger, status, method, path, http_status, error, logs, logs_dropped,
				result, result_truncated, started_at, duration_us)
		ON CONFLICT (id) DO UPDATE SET
			function = EXCLUDED.function, version = EXCLUDED.version, trigger = EXCLUDED.trigger,
			status = EXCLUDED.status, method = EXCLUDED.method, path = EXCLUDED.path,
			http_status = EXCLUDED.http_status, error = EXCLUDED.error, logs = EXCLUDED.logs,
			logs_dropped = EXCLUDED.logs_dropped, result = EXCLUDED.result,
			result_truncated = EXCLUDED.result_truncated, started_at = EXCLUDED.started_at,
			duration_us = EXCLUDED.duration_us, updated_at = now()`,
		ids, function, version, trigger, status, method, path, httpStatus, e, text(logs), logsDropped,
		result, truncated, started, durationUS)
	if err != nil {
		return interpretError(err, fmt.Sprintf("upsert %d invocations", len(rows)))
	}
	return nil
}

const invocationColumns = `id::text, function, version, trigger, status, method, path, http_status, error,
	logs, logs_dropped, result, result_truncated, started_at, duration_us, created_at, updated_at`

// summaryColumns are invocationColumns without the logs and the result.
const summaryColumns = `id::text, function, version, trigger, status, method, path, http_status, error,
	'[]'::jsonb, logs_dropped, NULL::bytea, result_truncated, started_at, duration_us, created_at, updated_at`

func scanInvocation(row pgx.Row) (*functions.Invocation, error) {
	var inv functions.Invocation
	var logs []byte
	var started *time.Time
	var durationUS int64
	if err := row.Scan(&inv.ID, &inv.Function, &inv.Version, &inv.Trigger, &inv.Status, &inv.Method, &inv.Path,
		&inv.HTTPStatus, &inv.Error, &logs, &inv.LogsDropped, &inv.Result, &inv.ResultTruncated, &started,
		&durationUS, &inv.CreatedAt, &inv.UpdatedAt); err != nil {
		return nil, err
	}
	if started != nil {
		inv.StartedAt = *started
	}
	inv.Duration = time.Duration(durationUS) * time.Microsecond
	var err error
	if inv.Logs, err = decodeLogs(logs); err != nil {
		return nil, fmt.Errorf("decode logs: %w", err)
	}
	return &inv, nil
}

// GetInvocation returns one invocation. ErrNotFound if there is none (or id
// is not a UUID).
func (s *Store) GetInvocation(ctx context.Context, id string) (*functions.Invocation, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("invocation %q: %w", id, ErrNotFound)
	}
	inv, err := scanInvocation(s.pool.QueryRow(ctx, `SELECT `+invocationColumns+` FROM invocations WHERE id = $1`, uid))
	if err != nil {
		return nil, interpretError(err, "invocation "+id)
	}
	return inv, nil
}

// DefaultInvocationLimit and MaxInvocationLimit bound ListInvocations.
const (
	DefaultInvocationLimit = 50
	MaxInvocationLimit     = 1000
)

// InvocationFilter selects invocations, newest first. Zero fields do not
// filter.
type InvocationFilter struct {
	Function string
	Status   string
	// Trigger keeps the invocations of one trigger (http, cron, event,
	// dead_letter).
	Trigger string
	// Since and Until keep the invocations created in [Since, Until): an
	// id range of the same index (ids are UUIDv7).
	Since, Until time.Time
	// After keeps invocations newer than this id, oldest first (a live
	// tail's cursor); with Before it is ErrInvalid.
	After string
	// Before is a cursor: only invocations older than this id (the last id
	// of the previous page). An id that is not a UUID is ErrInvalid.
	Before string
	// Limit is the page size: 0 means DefaultInvocationLimit, at most
	// MaxInvocationLimit.
	Limit int
	// Summary leaves Logs and Result out of the page (they can be large):
	// the database does not even send them.
	Summary bool
}

// ListInvocations returns one page of invocations, newest first (oldest
// first after f.After). The next
// page is Before = the last returned id; a page shorter than Limit is the
// last. Logs and results are included unless f.Summary.
func (s *Store) ListInvocations(ctx context.Context, f InvocationFilter) ([]functions.Invocation, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultInvocationLimit
	}
	limit = min(limit, MaxInvocationLimit)
	var before *uuid.UUID
	if f.Before != "" {
		id, err := uuid.Parse(f.Before)
		if err != nil {
			return nil, fmt.Errorf("list invocations: cursor %q is not an invocation id: %w", f.Before, ErrInvalid)
		}
		before = &id
	}
	var after *uuid.UUID
	if f.After != "" {
		id, err := uuid.Parse(f.After)
		if err != nil || before != nil {
			return nil, fmt.Errorf("list invocations: cursor %q is not an invocation id: %w", f.After, ErrInvalid)
		}
		after = &id
	}
	// Only the conditions asked for, so the planner picks the index that
	// fits: (function, id), (status, id) or the primary key.
	var where []string
	var args []any
	if f.Function != "" {
		args = append(args, f.Function)
		where = append(where, fmt.Sprintf("function = $%d", len(args)))
	}
	if f.Status != "" {
		args = append(args, f.Status)
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.Trigger != "" {
		args = append(args, f.Trigger)
		where = append(where, fmt.Sprintf("trigger = $%d", len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, uuidAt(f.Since))
		where = append(where, fmt.Sprintf("id >= $%d", len(args)))
	}
	if !f.Until.IsZero() {
		args = append(args, uuidAt(f.Until))
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
	}
	if before != nil {
		args = append(args, *before)
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
	}
	order := "DESC"
	if after != nil {
		args = append(args, *after)
		where = append(where, fmt.Sprintf("id > $%d", len(args)))
		order = "ASC"
	}
	cols := invocationColumns
	if f.Summary {
		cols = summaryColumns
	}
	q := `SELECT ` + cols + ` FROM invocations`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY id %s LIMIT $%d`, order, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, interpretError(err, "list invocations")
	}
	defer rows.Close()
	var out []functions.Invocation
	for rows.Next() {
		inv, err := scanInvocation(rows)
		if err != nil {
			return nil, interpretError(err, "scan invocation")
		}
		out = append(out, *inv)
	}
	return out, interpretError(rows.Err(), "list invocations")
}
