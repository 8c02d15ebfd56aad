// Package metrics exposes PiCloud's Prometheus metrics: invocations by
// function, trigger and outcome with their durations, cold starts, worker
// exits (OOM kills, timeouts), workers by state, the async queue and dead
// letters, dropped invocation records, and the Go runtime and process
// collectors.
//
// Everything lives on a registry passed to New, never on the global default
// one. The hot path pays for one counter increment and one histogram
// observation per call; gauges that need a lookup (workers by state, queue
// depth, dead letters) are collector callbacks run only when /metrics is
// scraped.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every PiCloud metric name.
const Namespace = "picloud"

// Triggers: what started an invocation (the trigger label).
const (
	TriggerHTTP       = "http"
	TriggerCron       = "cron"
	TriggerEvent      = "event"
	TriggerDeadLetter = "dead_letter"
)

// Outcomes of an invocation (the outcome label).
const (
	// OutcomeOK: the function returned a response, whatever its status.
	OutcomeOK = "ok"
	// OutcomeError: a Lua error (runtime, compile, sandbox denial).
	OutcomeError = "error"
	// OutcomeTimeout: the call hit its timeout.
	OutcomeTimeout = "timeout"
	// OutcomeMemory: the call hit the function's memory limit.
	OutcomeMemory = "memory"
	// OutcomeCrash: the worker died under the call for another reason.
	OutcomeCrash = "crash"
	// OutcomeOverloaded: refused with 503 because the pool stayed busy.
	OutcomeOverloaded = "overloaded"
)

// Worker states reported by the workers gauge; a state missing from the
// map returned by the WorkersFunc is reported as 0.
var workerStates = []string{"starting", "idle", "busy", "stopping"}

// Worker exit reasons (supervisor.Observer.WorkerExit) counted by their own
// counters besides worker_exits_total.
const (
	exitMemory  = "memory"
	exitTimeout = "timeout"
)

// DefaultScrapeTimeout bounds each callback of a scrape (queue depth, dead
// letters) when Options.ScrapeTimeout is zero.
const DefaultScrapeTimeout = 5 * time.Second

// Options configure New.
type Options struct {
	// Version is the build's version, exported as picloud_build_info.
	Version string
	// ScrapeTimeout bounds each database-backed callback of a scrape;
	// zero means DefaultScrapeTimeout.
	ScrapeTimeout time.Duration
	// Logger receives errors of scrapes; nil discards them.
	Logger hclog.Logger
}

// QueryFunc reads one number for a gauge at scrape time (typically a
// COUNT(*) in PostgreSQL). ctx carries the scrape timeout.
type QueryFunc func(ctx context.Context) (int64, error)

// WorkersFunc returns how many worker processes are in each state
// ("starting", "idle", "busy", "stopping") at scrape time.
type WorkersFunc func() map[string]int

// Metrics records PiCloud's metrics on one registry. Its methods are safe
// for concurrent use and cheap enough for the request path. It implements
// supervisor.Observer.
type Metrics struct {
	reg     *prometheus.Registry
	log     hclog.Logger
	timeout time.Duration

	invocations       *prometheus.CounterVec
	invocationSeconds *prometheus.HistogramVec
	coldStarts        *prometheus.CounterVec
	coldStartSeconds  *prometheus.HistogramVec
	workerExits       *prometheus.CounterVec
	oomKills          *prometheus.CounterVec
	workerTimeouts    *prometheus.CounterVec
	queueWaitSeconds  *prometheus.HistogramVec
	overloaded        *prometheus.CounterVec
	outboundRequests  *prometheus.CounterVec
}

// Buckets of the duration histograms, in seconds.
var (
	invocationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	coldStartBuckets  = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	queueWaitBuckets  = []float64{.001, .005, .01, .05, .1, .5, 1, 2.5, 5, 10}
)

// New creates the metrics and registers them, with the Go runtime, process
// and build-info collectors, on reg, which should be a fresh registry owned
// by the server (not prometheus.DefaultRegisterer).
func New(reg *prometheus.Registry, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil registry")
	}
	if opts.ScrapeTimeout <= 0 {
		opts.ScrapeTimeout = DefaultScrapeTimeout
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	m := &Metrics{
		reg:     reg,
		log:     opts.Logger,
		timeout: opts.ScrapeTimeout,
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "invocations_total",
			Help: "Function invocations by function, trigger and outcome.",
		}, []string{"function", "trigger", "outcome"}),
		invocationSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "invocation_duration_seconds",
			Help:    "Time from the start of an invocation to its result, queueing and cold start included.",
			Buckets: invocationBuckets,
		}, []string{"function", "trigger"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "cold_starts_total",
			Help: "Worker processes started (cold starts) by function.",
		}, []string{"function"}),
		coldStartSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "cold_start_duration_seconds",
			Help:    "Time to start a worker: process start, handshake and load of the source.",
			Buckets: coldStartBuckets,
		}, []string{"function"}),
		workerExits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "worker_exits_total",
			Help: "Worker processes gone, by reason (idle, evicted, replaced, removed, stopped, timeout, memory, crash).",
		}, []string{"reason"}),
		oomKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "worker_oom_kills_total",
			Help: "Workers ended for exceeding their function's memory limit.",
		}, []string{"function"}),
		workerTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "worker_timeouts_total",
			Help: "Workers killed because a call outlived its timeout.",
		}, []string{"function"}),
		queueWaitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "queue_wait_seconds",
			Help:    "Time requests waited for a free worker slot.",
			Buckets: queueWaitBuckets,
		}, []string{"function"}),
		overloaded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "overloaded_total",
			Help: "Requests refused with 503 because the function's workers stayed busy.",
		}, []string{"function"}),
		outboundRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "outbound_requests_total",
			Help: "Outbound HTTP requests of functions (http.request) by function and outcome (ok, refused, timeout, too_large, over_limit, invalid, error).",
		}, []string{"function", "outcome"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels say which PiCloud build runs.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	for _, c := range []prometheus.Collector{
		m.invocations, m.invocationSeconds, m.coldStarts, m.coldStartSeconds,
		m.workerExits, m.oomKills, m.workerTimeouts, m.queueWaitSeconds, m.overloaded,
		m.outboundRequests, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus text format for /metrics.
// A failing callback (say the database is down) drops its own metric and
// is logged; the rest of the scrape is still served. Authentication, if
// wanted, is the caller's middleware.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            m.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
	})
}

// ObserveInvocation records one invocation of fn: trigger is one of the
// Trigger constants, outcome one of the Outcome constants, d its duration.
func (m *Metrics) ObserveInvocation(fn, trigger, outcome string, d time.Duration) {
	m.invocations.WithLabelValues(fn, trigger, outcome).Inc()
	m.invocationSeconds.WithLabelValues(fn, trigger).Observe(d.Seconds())
}

// ColdStart records a worker started for fn in d (supervisor.Observer).
func (m *Metrics) ColdStart(fn string, d time.Duration) {
	m.coldStarts.WithLabelValues(fn).Inc()
	m.coldStartSeconds.WithLabelValues(fn).Observe(d.Seconds())
}

// WorkerExit records a worker of fn gone for reason (supervisor.Observer);
// "memory" also counts as an OOM kill and "timeout" as a worker timeout.
func (m *Metrics) WorkerExit(fn, reason string) {
	m.workerExits.WithLabelValues(reason).Inc()
	switch reason {
	case exitMemory:
		m.oomKills.WithLabelValues(fn).Inc()
	case exitTimeout:
		m.workerTimeouts.WithLabelValues(fn).Inc()
	}
}

// Queued records a request to fn that waited d for a worker slot
// (supervisor.Observer).
func (m *Metrics) Queued(fn string, d time.Duration) {
	m.queueWaitSeconds.WithLabelValues(fn).Observe(d.Seconds())
}

// Overloaded records a request to fn refused with 503 (supervisor.Observer).
func (m *Metrics) Overloaded(fn string) {
	m.overloaded.WithLabelValues(fn).Inc()
}

// OutboundRequest records one http.request of fn and how it ended
// (outbound.Observer).
func (m *Metrics) OutboundRequest(fn, outcome string) {
	m.outboundRequests.WithLabelValues(fn, outcome).Inc()
}

// ForgetFunction drops every series labelled with fn, for a removed
// function, so deleted functions do not linger in /metrics.
func (m *Metrics) ForgetFunction(fn string) {
	l := prometheus.Labels{"function": fn}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.invocations, m.invocationSeconds, m.coldStarts, m.coldStartSeconds,
		m.oomKills, m.workerTimeouts, m.queueWaitSeconds, m.overloaded, m.outboundRequests,
	} {
		v.DeletePartialMatch(l)
	}
}

// RegisterWorkers exports picloud_workers{state}, read from f at each
// scrape (say, by counting supervisor.Status().Workers by State).
func (m *Metrics) RegisterWorkers(f WorkersFunc) error {
	return m.register(&workersCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "workers"),
			"Worker processes on this node by state.", []string{"state"}, nil),
		f: f,
	}, "workers")
}

// RegisterQueueDepth exports picloud_queue_depth, read from f at each
// scrape: async jobs (events, cron ticks, retries) waiting to run.
func (m *Metrics) RegisterQueueDepth(f QueryFunc) error {
	return m.registerQuery("queue_depth", "Async jobs waiting to run (events, cron ticks, retries).", f)
}

// RegisterDeadLetters exports picloud_dead_letters, read from f at each
// scrape: deliveries that ran out of retries and are kept as dead letters.
func (m *Metrics) RegisterDeadLetters(f QueryFunc) error {
	return m.registerQuery("dead_letters", "Dead letters stored: deliveries that ran out of retries.", f)
}

// RegisterRecordsDropped exports picloud_invocation_records_dropped_total,
// read from f at each scrape: invocation records the batch writer dropped
// rather than block a request. f must be monotonic (an atomic counter).
func (m *Metrics) RegisterRecordsDropped(f func() uint64) error {
	return m.register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace, Name: "invocation_records_dropped_total",
		Help: "Invocation records dropped because the writer's buffer was full.",
	}, func() float64 { return float64(f()) }), "invocation_records_dropped_total")
}

func (m *Metrics) registerQuery(name, help string, f QueryFunc) error {
	return m.register(&queryCollector{
		desc:    prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, nil),
		f:       f,
		timeout: m.timeout,
	}, name)
}

func (m *Metrics) register(c prometheus.Collector, name string) error {
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register %s: %w", name, err)
	}
	return nil
}

// workersCollector reports the WorkersFunc's counts, every known state
// included so each series exists from the first scrape.
type workersCollector struct {
	desc *prometheus.Desc
	f    WorkersFunc
}

var _ prometheus.Collector = (*workersCollector)(nil)

func (c *workersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *workersCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.f()
	for _, s := range workerStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
	for s, n := range counts {
		if !knownState(s) {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), s)
		}
	}
}

func knownState(s string) bool {
	for _, k := range workerStates {
		if k == s {
			return true
		}
	}
	return false
}

// queryCollector reports one gauge read by a QueryFunc under a timeout; a
// failure becomes an invalid metric, which the ContinueOnError handler
// logs and leaves out of the scrape.
type queryCollector struct {
	desc    *prometheus.Desc
	f       QueryFunc
	timeout time.Duration
}

var _ prometheus.Collector = (*queryCollector)(nil)

func (c *queryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queryCollector) Collect(ch chan<- prometheus.Metric) {
	// Collect has no context of its own; the timeout bounds the query.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	n, err := c.f(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read %s: %w", c.desc, err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}
