package events

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/store"
)

// listener holds one dedicated connection that LISTENs on the events and
// schedules channels and feeds the hub and the scheduler. While nothing
// happens it sends no statement at all.
type listener struct {
	st     *store.EventStore
	log    hclog.Logger
	hub    *Hub
	sched  *scheduler
	runner *riverRunner
	conn   *pgx.Conn
	// riverInsert is River's insert channel in the current schema.
	riverInsert string
}

func newListener(st *store.EventStore, log hclog.Logger, hub *Hub, sched *scheduler, runner *riverRunner) *listener {
	return &listener{st: st, log: log, hub: hub, sched: sched, runner: runner}
}

func (l *listener) connect(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.st.Pool().Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("events: connect listener: %w", err)
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("events: read current schema: %w", err)
	}
	l.riverInsert = "river_insert"
	if schema != "" {
		l.riverInsert = schema + ".river_insert"
	}
	for _, ch := range []string{store.EventsChannel, store.SchedulesChannel, l.riverInsert} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("events: listen on %s: %w", ch, err)
		}
	}
	l.conn = conn
	return nil
}

func (l *listener) close() {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
}

// run waits for notifications until ctx ends, reconnecting (and then
// catching up: the hub from the log, the scheduler from the table) after a
// lost connection.
func (l *listener) run(ctx context.Context) {
	defer l.close()
	backoff := 100 * time.Millisecond
	for {
		if l.conn == nil {
			if err := l.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				l.log.Warn("listener reconnect failed", "error", err, "retry_in", backoff.String())
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			if last, err := l.st.LastEventID(ctx); err == nil {
				l.hub.advance(last)
			}
			l.sched.poke()
			l.runner.poke()
			l.log.Info("listener reconnected")
		}
		n, err := l.conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("listener connection lost", "error", err)
			l.close()
			continue
		}
		switch n.Channel {
		case store.EventsChannel:
			if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
				l.hub.advance(id)
			}
		case store.SchedulesChannel:
			l.sched.poke()
		case l.riverInsert:
			l.runner.poke()
		}
	}
}
