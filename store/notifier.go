package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
)

// SchemaPrefix in a channel given to Notifier.Subscribe stands for the
// connection's current schema: River names its insert channel that way.
const SchemaPrefix = "{schema}."

// Notifier is the node's one LISTEN connection: every cache and the events
// service subscribe to their channels on it, so a node holds one listening
// backend however many parts need notifications. It reconnects with
// backoff and tells each subscriber of every loss and recovery of the
// connection (after a recovery, a subscriber must assume it missed
// notifications). While nothing happens it sends one empty statement per
// PingInterval: a connection that broke without a word (a network cut, a
// database host that went away) is found within PingInterval+PingTimeout,
// so a lost notification is made up for within that time (the reconcile
// interval) rather than never.
type Notifier struct {
	store      *Store
	logger     hclog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	ping       time.Duration
	pingWait   time.Duration

	subs     map[string][]subscription // by channel as subscribed
	channels map[string]string         // LISTENed name -> subscribed name

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	done                chan struct{}
}

type subscription struct {
	onNotify func(payload string)
	onState  func(up bool)
}

// NotifierConfig configures a Notifier.
type NotifierConfig struct {
	Logger hclog.Logger
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts (defaults 100ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how long the connection may stay silent before it
	// is pinged, PingTimeout how long the ping may take before the
	// connection counts as lost (defaults DefaultPingInterval and
	// DefaultPingTimeout).
	PingInterval, PingTimeout time.Duration
}

// Defaults of NotifierConfig: a silently broken LISTEN connection is
// found, and every subscriber catches up, within about 7 s.
const (
	DefaultPingInterval = 5 * time.Second
	DefaultPingTimeout  = 2 * time.Second
)

// NewNotifier returns a Notifier on a dedicated connection of s; Subscribe
// to it, then Start it.
func (s *Store) NewNotifier(cfg NotifierConfig) *Notifier {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = s.logger
	}
	return &Notifier{
		store: s, logger: cfg.Logger.Named("notifier"),
		minBackoff: cfg.MinBackoff, maxBackoff: cfg.MaxBackoff,
		ping: cfg.PingInterval, pingWait: cfg.PingTimeout,
		subs: make(map[string][]subscription),
		done: make(chan struct{}),
	}
}

// Subscribe calls onNotify with the payload of every notification on
// channel, and onState (when not nil) on every change of the connection:
// true once Start has connected and after each reconnection, false when it
// is lost. Callbacks run on the notifier's goroutine, in order: they must
// return quickly. Subscribe before Start.
func (l *Notifier) Subscribe(channel string, onNotify func(payload string), onState func(up bool)) {
	l.subs[channel] = append(l.subs[channel], subscription{onNotify: onNotify, onState: onState})
}

func (l *Notifier) onNotify(channel, payload string) {
	for _, s := range l.subs[l.channels[channel]] {
		s.onNotify(payload)
	}
}

func (l *Notifier) onState(up bool) {
	for _, subs := range l.subs {
		for _, s := range subs {
			if s.onState != nil {
				s.onState(up)
			}
		}
	}
}

// Start connects once (returning that error) and then listens in the
// background until Stop. Subscribers hear onState(true) before Start
// returns; Stop does not call onState.
func (l *Notifier) Start(ctx context.Context) error {
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

// Stop ends the notifier and waits for it; safe twice and without Start.
func (l *Notifier) Stop() {
	l.stopOnce.Do(func() {
		l.startOnce.Do(func() { close(l.done) })
		if l.cancel != nil {
			l.cancel()
		}
		<-l.done
	})
}

func (l *Notifier) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := l.store.connCfg.Copy()
	cfg.RuntimeParams["application_name"] = "picloud-listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect listener: %w", err)
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("read current schema: %w", err)
	}
	l.channels = make(map[string]string, len(l.subs))
	for name := range l.subs {
		ch := name
		if rest, ok := strings.CutPrefix(name, SchemaPrefix); ok {
			ch = rest
			if schema != "" {
				ch = schema + "." + rest
			}
		}
		l.channels[ch] = name
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("listen on %s: %w", ch, err)
		}
	}
	return conn, nil
}

func (l *Notifier) run(ctx context.Context, conn *pgx.Conn) {
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

func (l *Notifier) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, l.ping)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			l.onNotify(n.Channel, n.Payload)
			continue
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
			return err
		}
		// Silent for a ping interval: is the connection still there?
		pctx, cancel := context.WithTimeout(ctx, l.pingWait)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("no answer to a ping within %s: %w", l.pingWait, err)
		}
	}
}

func (l *Notifier) reconnect(ctx context.Context) *pgx.Conn {
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
