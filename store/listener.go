package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
)

// listener keeps a dedicated connection LISTENing on some channels,
// reconnecting with backoff. It tells its owner of every notification and
// of every loss and recovery of the connection (after a recovery, the owner
// must assume it missed notifications).
type listener struct {
	store      *Store
	channels   []string
	logger     hclog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	onNotify   func(channel, payload string)
	onState    func(up bool)

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	done                chan struct{}
}

func newListener(s *Store, logger hclog.Logger, minBackoff, maxBackoff time.Duration, onNotify func(channel, payload string), onState func(up bool), channels ...string) *listener {
	if minBackoff <= 0 {
		minBackoff = 100 * time.Millisecond
	}
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	return &listener{
		store: s, channels: channels, logger: logger,
		minBackoff: minBackoff, maxBackoff: maxBackoff,
		onNotify: onNotify, onState: onState,
		done: make(chan struct{}),
	}
}

// start connects once (returning that error) and then listens in the
// background until stop. onState(true) is called before start returns;
// later onState(false) on a lost connection and onState(true) once it is
// back. stop does not call onState.
func (l *listener) start(ctx context.Context) error {
	var err error
	l.startOnce.Do(func() {
		var conn *pgx.Conn
		conn, err = l.connect(ctx)
		if err != nil {
			close(l.done)
			return
		}
		l.onState(true)
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		l.cancel = cancel
		go l.run(runCtx, conn)
	})
	return err
}

// stop ends the listener and waits for it; safe twice and without start.
func (l *listener) stop() {
	l.stopOnce.Do(func() {
		l.startOnce.Do(func() { close(l.done) })
		if l.cancel != nil {
			l.cancel()
		}
		<-l.done
	})
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := l.store.connCfg.Copy()
	cfg.RuntimeParams["application_name"] = "picloud-listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect listener: %w", err)
	}
	for _, ch := range l.channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("listen on %s: %w", ch, err)
		}
	}
	return conn, nil
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		err := l.listen(ctx, conn)
		conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return // stopping: the owner knows
		}
		l.onState(false)
		l.logger.Warn("lost listener connection", "error", err)
		conn = l.reconnect(ctx)
		if conn == nil {
			return
		}
		l.logger.Info("listener reconnected")
		l.onState(true)
	}
}

func (l *listener) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.onNotify(n.Channel, n.Payload)
	}
}

func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	delay := l.minBackoff
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		l.logger.Warn("listener reconnection failed", "error", err, "retry_in", delay)
		delay = min(2*delay, l.maxBackoff)
	}
}
