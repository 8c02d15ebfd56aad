// Package events is PiCloud's event-driven side: asynchronous invocations,
// topics with their triggers, deliveries with retries and dead letters,
// cron schedules, retention, and the realtime Server-Sent Events stream.
//
// Durable work is done by River (riverqueue/river) on the same PostgreSQL:
// every (event, subscribed function) pair, every cron tick and every async
// invocation is a River job, claimed with SKIP LOCKED by whichever node is
// free and rescued when its node dies. The event log (the outbox) is the
// events table; a publishing transaction appends to it, inserts the
// deliveries and notifies picloud_events, all committed together, and every
// node's Hub then reads the new rows and feeds its SSE clients.
//
// The service keeps an idle server quiet: River's fetch poll is long (new
// jobs arrive by LISTEN/NOTIFY, due retries wake the queue with a timer),
// the cron scheduler sleeps until the next tick of any schedule, and
// heartbeats run only while a stream client is connected.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/picloud/picloud/clock"
	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/store"
)

// Functions looks up a function's current version and settings: the
// store's FunctionCache. A missing function is an error wrapping
// store.ErrNotFound.
type Functions interface {
	Get(ctx context.Context, name string) (*store.Function, error)
}

// Defaults of Config.
const (
	DefaultRetryBase           = time.Second
	DefaultMaxRetryDelay       = time.Hour
	DefaultWorkers             = 64
	DefaultEventRetention      = 7 * 24 * time.Hour
	DefaultInvocationRetention = 7 * 24 * time.Hour
	DefaultJobRetention        = 24 * time.Hour
	DefaultRescueAfter         = 20 * time.Minute // > the longest function timeout (15m)
	DefaultFetchPollInterval   = time.Minute
	DefaultHeartbeat           = 15 * time.Second
	DefaultClientBuffer        = 1024
	DefaultTicketTTL           = 5 * time.Minute
	DefaultRetentionInterval   = time.Hour
	// DefaultMaxStreamsPerToken caps the event streams one token holds
	// open on one node.
	DefaultMaxStreamsPerToken = 32
	// DefaultMaxQueuedCalls and DefaultMaxQueuedBytes bound the async
	// calls of one function waiting (queued or running).
	DefaultMaxQueuedCalls = 1000
	DefaultMaxQueuedBytes = 64 << 20
	// DefaultTokenRecheck is how often the tokens of open streams are
	// re-read (revocations normally arrive at once by NOTIFY).
	DefaultTokenRecheck = time.Minute
	// MaxPayloadBytes bounds one event's JSON payload.
	MaxPayloadBytes = 256 << 10
)

// maxJobTimeout bounds a job: the longest function timeout (15 min) and a
// margin.
const maxJobTimeout = 16 * time.Minute

// queueName is the one River queue PiCloud uses.
const queueName = "picloud"

// Config configures a Service.
type Config struct {
	// Store gives the events SQL; its pool also runs River. Required.
	Store *store.EventStore
	// Functions looks up functions (required).
	Functions Functions
	// Invoker runs and records the calls of jobs (required to work jobs);
	// the Service is its Committer.
	Invoker *invoke.Invoker
	// Notifier is the node's LISTEN connection, started by the owner once
	// every part subscribed; nil gives the service one of its own.
	Notifier *store.Notifier
	// Logger receives the service's logs; nil discards them.
	Logger hclog.Logger
	// NodeID names this node in tick records and is its River client id
	// (default: River's own).
	NodeID string
	// NoJobs: queue jobs, never work them (a node without the data role).
	NoJobs bool
	// NoScheduler: do not fire cron ticks (a node without the control
	// role).
	NoScheduler bool

	// RetryBase is the first retry delay; attempt n waits about
	// RetryBase·2^(n-1), with ±25% jitter, at most MaxRetryDelay.
	RetryBase     time.Duration
	MaxRetryDelay time.Duration
	// Workers is the number of jobs this node works at once.
	Workers int
	// RescueAfter: a job running this long (its node died) is retried.
	// Keep it above the longest function timeout (the default is).
	RescueAfter time.Duration
	// FetchPollInterval is River's fallback poll for new jobs; new jobs
	// normally arrive by LISTEN/NOTIFY.
	FetchPollInterval time.Duration

	// Retention of the event log, of invocation records and of finished
	// jobs; RetentionInterval is how often the pruning job runs.
	EventRetention      time.Duration
	InvocationRetention time.Duration
	JobRetention        time.Duration
	RetentionInterval   time.Duration

	// Heartbeat is the SSE comment interval; ClientBuffer the events
	// buffered per SSE client before it is dropped; TicketTTL the life of
	// a stream ticket.
	Heartbeat    time.Duration
	ClientBuffer int
	TicketTTL    time.Duration
	// MaxStreamsPerToken caps the streams one token holds open on this
	// node (429 beyond); TokenRecheck is how often the tokens of open
	// streams are re-read to close those of revoked tokens (revocations
	// announced on store.TokensChannel close them at once).
	MaxStreamsPerToken int
	TokenRecheck       time.Duration

	// MaxQueuedCalls and MaxQueuedBytes bound the async calls of one
	// function that wait (queued or running), in number and in request
	// bytes; beyond, EnqueueInvocation returns ErrQueueFull.
	MaxQueuedCalls int
	MaxQueuedBytes int64

	// IdleAfter: River is stopped after this long without work and
	// started again when work arrives (see riverRunner).
	IdleAfter time.Duration

	// Stopping, when closed, ends the stream responses (the server's
	// drain has begun).
	Stopping <-chan struct{}

	// Clock arms the scheduler's tick timers and the retry wake-ups
	// (tests pass a clock.Fake); nil means the real clock.
	Clock clock.Clock
	// Now is the time source (tests stub it); nil means Clock.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	def := func(v *time.Duration, x time.Duration) {
		if *v <= 0 {
			*v = x
		}
	}
	def(&d.RetryBase, DefaultRetryBase)
	def(&d.MaxRetryDelay, DefaultMaxRetryDelay)
	def(&d.RescueAfter, DefaultRescueAfter)
	def(&d.FetchPollInterval, DefaultFetchPollInterval)
	def(&d.EventRetention, DefaultEventRetention)
	def(&d.InvocationRetention, DefaultInvocationRetention)
	def(&d.JobRetention, DefaultJobRetention)
	def(&d.RetentionInterval, DefaultRetentionInterval)
	def(&d.Heartbeat, DefaultHeartbeat)
	def(&d.TicketTTL, DefaultTicketTTL)
	def(&d.IdleAfter, DefaultIdleAfter)
	def(&d.TokenRecheck, DefaultTokenRecheck)
	if d.MaxQueuedCalls <= 0 {
		d.MaxQueuedCalls = DefaultMaxQueuedCalls
	}
	if d.MaxQueuedBytes <= 0 {
		d.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if d.MaxStreamsPerToken <= 0 {
		d.MaxStreamsPerToken = DefaultMaxStreamsPerToken
	}
	if d.Workers <= 0 {
		d.Workers = DefaultWorkers
	}
	if d.ClientBuffer <= 0 {
		d.ClientBuffer = DefaultClientBuffer
	}
	d.Clock = clock.OrReal(d.Clock)
	if d.Now == nil {
		d.Now = d.Clock.Now
	}
	return d
}

// Service is the events subsystem of one node.
type Service struct {
	cfg    Config
	st     *store.EventStore
	log    hclog.Logger
	queue  *store.Queue
	own    *store.Notifier // the service's own notifier, when not shared
	hub    *Hub
	sched  *scheduler
	ticket *ticketSigner
	pub    *publisher
	runner *riverRunner
	// recheck wakes watchTokens (capacity 1).
	recheck chan struct{}

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	stopRun context.CancelFunc
	runDone chan struct{}
	wg      sync.WaitGroup
	timers  map[clock.Timer]struct{} // pending retry wake-ups
	stopped bool
}

// New builds a Service; Start runs it.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("events: Config.Store is required")
	}
	if cfg.Functions == nil {
		return nil, errors.New("events: Config.Functions is required")
	}
	c := cfg.withDefaults()
	s := &Service{
		cfg:     c,
		st:      c.Store,
		log:     c.Logger.Named("events"),
		timers:  make(map[clock.Timer]struct{}),
		recheck: make(chan struct{}, 1),
	}
	s.pub = newPublisher(s.st)
	s.runner = newRiverRunner(s)
	s.hub = newHub(s.st, s.log.Named("hub"), c.ClientBuffer)
	s.sched = newScheduler(s)
	s.ticket = &ticketSigner{st: s.st, ttl: c.TicketTTL, now: c.Now}

	workers := river.NewWorkers()
	river.AddWorker(workers, &deliveryWorker{s: s})
	river.AddWorker(workers, &invokeWorker{s: s})

	q, err := s.st.NewQueue(store.QueueConfig{
		ID:                c.NodeID,
		Name:              queueName,
		MaxWorkers:        c.Workers,
		Workers:           workers,
		Logger:            slog.New(hclogHandler{s.log.Named("river")}),
		FetchPollInterval: c.FetchPollInterval,
		// Each call has its function's timeout (at most 15 min); the job
		// timeout is a backstop, and River rescues only jobs past it.
		JobTimeout:  min(maxJobTimeout, c.RescueAfter*4/5),
		RescueAfter: c.RescueAfter,
		Retention:   c.JobRetention,
		MaxAttempts: store.DefaultMaxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	s.queue = q
	if s.cfg.NodeID == "" {
		s.cfg.NodeID = q.ID()
	}
	n := c.Notifier
	if n == nil {
		s.own = s.st.NewNotifier(store.NotifierConfig{Logger: s.log})
		n = s.own
	}
	s.subscribe(n)
	if c.Invoker != nil {
		c.Invoker.SetCommitter(s)
	}
	return s, nil
}

// Migrate creates or updates River's tables, under an advisory lock so
// nodes starting together do not race. Start calls it.
func Migrate(ctx context.Context, st *store.EventStore) error { return st.MigrateQueue(ctx) }

// Start migrates River's tables, starts working jobs, the listener that
// feeds the hub and the scheduler, and the scheduler. It returns once all
// are running; Stop ends them.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("events: already started")
	}
	s.started = true
	s.mu.Unlock()

	if err := Migrate(ctx, s.st); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if s.own != nil {
		if err := s.own.Start(ctx); err != nil {
			cancel()
			return fmt.Errorf("events: %w", err)
		}
	}
	if err := s.hub.init(ctx); err != nil {
		cancel()
		if s.own != nil {
			s.own.Stop()
		}
		return err
	}
	runnerCtx, stopRun := context.WithCancel(runCtx)
	runDone := make(chan struct{})
	if s.cfg.Invoker != nil && !s.cfg.NoJobs {
		go func() { defer close(runDone); s.runner.run(runnerCtx) }()
	} else {
		close(runDone)
	}
	s.mu.Lock()
	s.cancel, s.stopRun, s.runDone = cancel, stopRun, runDone
	s.mu.Unlock()
	s.wg.Add(3 + publishers)
	go func() { defer s.wg.Done(); s.watchTokens(runCtx) }()
	go func() { defer s.wg.Done(); s.retention(runCtx) }()
	for range publishers {
		go func() { defer s.wg.Done(); s.pub.run(runCtx) }()
	}
	go func() { defer s.wg.Done(); s.hub.run(runCtx) }()
	if !s.cfg.NoScheduler {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.sched.run(runCtx) }()
	}
	s.log.Info("events started", "node", s.cfg.NodeID, "workers", s.cfg.Workers, "retry_base", s.cfg.RetryBase.String())
	return nil
}

// Fence stops this node from claiming jobs (fenced true) until it is
// called with false: the node registry fences a node that cannot renew its
// heartbeat, since other nodes re-queue its jobs once its lease expires.
// Jobs running when it is fenced get River's stop grace (10 s), then are
// cancelled; their completion is refused anyway once re-queued.
func (s *Service) Fence(fenced bool) { s.runner.fence(fenced) }

// Stop stops the scheduler and the listener, drops stream clients, and
// lets running jobs finish (a job still running after 10 s is cancelled
// and will be retried). It is safe to call twice and before Start.
func (s *Service) Stop() {
	s.mu.Lock()
	if s.stopped || !s.started {
		s.stopped = true
		s.mu.Unlock()
		return
	}
	s.stopped = true
	cancel, stopRun, runDone := s.cancel, s.stopRun, s.runDone
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()

	if stopRun != nil {
		stopRun() // River stops, letting running jobs finish
		<-runDone
	}
	if cancel != nil {
		cancel()
	}
	if s.own != nil {
		s.own.Stop()
	}
	s.hub.closeAll()
	s.wg.Wait()
}

// retention prunes old records every RetentionInterval (not a River
// periodic job: River sleeps while idle).
func (s *Service) retention(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("prune old records", "error", err)
			}
		}
	}
}

// Hub returns the realtime hub.
func (s *Service) Hub() *Hub { return s.hub }

// schedulerLookahead is River's scheduler interval: a retry due within it
// is made available at once with a future scheduled_at, and River fetches
// it only on its next poll or insert notification.
const schedulerLookahead = 5 * time.Second

// wakeForRetries reads River's failed and snoozed job events (sent once the
// new state is committed) and sets a timer that wakes the queue when the
// retry is due. River's poll stays long, so an idle server stays quiet.
func (s *Service) wakeForRetries(ctx context.Context, evs <-chan *river.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			if ev.Job == nil || (ev.Job.State != rivertype.JobStateAvailable && ev.Job.State != rivertype.JobStateRetryable &&
				ev.Job.State != rivertype.JobStateScheduled) {
				continue
			}
			d := ev.Job.ScheduledAt.Sub(s.cfg.Now())
			if d <= schedulerLookahead {
				s.wakeAt(max(d, 0) + 2*time.Millisecond)
			}
		}
	}
}

// wakeAt makes the queue fetch after d.
func (s *Service) wakeAt(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.timers == nil {
		return
	}
	var t clock.Timer
	t = s.cfg.Clock.AfterFunc(d, func() {
		s.mu.Lock()
		if s.timers != nil {
			delete(s.timers, t)
		}
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.st.WakeRiverQueue(ctx, queueName); err != nil {
			s.log.Warn("wake queue for retry", "error", err)
			return
		}
		s.log.Trace("woke queue for a due retry")
	})
	s.timers[t] = struct{}{}
}

// jsonObjectWith returns obj (a JSON object) with "attempt": n added.
func jsonObjectWith(obj json.RawMessage, key string, n int) json.RawMessage {
	prefix := fmt.Sprintf(`{%q:%d`, key, n)
	if len(obj) < 2 || obj[0] != '{' {
		return json.RawMessage(prefix + "}")
	}
	rest := obj[1:]
	trimmed := rest
	for len(trimmed) > 0 && (trimmed[0] == ' ' || trimmed[0] == '\n' || trimmed[0] == '\t' || trimmed[0] == '\r') {
		trimmed = trimmed[1:]
	}
	if len(trimmed) > 0 && trimmed[0] == '}' {
		return json.RawMessage(prefix + "}")
	}
	out := make([]byte, 0, len(prefix)+1+len(rest))
	out = append(out, prefix...)
	out = append(out, ',')
	out = append(out, rest...)
	return out
}
