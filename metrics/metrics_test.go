package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type testBundle struct {
	reg *prometheus.Registry
	srv *httptest.Server
}

func setup(t *testing.T) (*Metrics, *testBundle) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{Version: "1.2.3-test"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return m, &testBundle{reg: reg, srv: srv}
}

// scrape fetches /metrics over HTTP and returns the body.
func scrape(t *testing.T, b *testBundle) string {
	t.Helper()
	resp, err := http.Get(b.srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: content type %q, want the text format", ct)
	}
	return string(body)
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, text)
	}
	return fams
}

// find returns the metric of family name whose labels include want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric family %s in the scrape", name)
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no %s with labels %v", name, want)
	return nil
}

// exercise records a little of everything and registers every callback.
func exercise(t *testing.T, m *Metrics, dropped *atomic.Uint64) {
	t.Helper()
	m.ObserveInvocation("hello", TriggerHTTP, OutcomeOK, 3*time.Millisecond)
	m.ObserveInvocation("hello", TriggerHTTP, OutcomeOK, 40*time.Millisecond)
	m.ObserveInvocation("hello", TriggerHTTP, OutcomeTimeout, 2*time.Second)
	m.ObserveInvocation("nightly", TriggerCron, OutcomeError, time.Millisecond)
	m.ColdStart("hello", 7*time.Millisecond)
	m.WorkerExit("hello", "idle")
	m.WorkerExit("hog", "memory")
	m.WorkerExit("slow", "timeout")
	m.Queued("hello", 20*time.Millisecond)
	m.Overloaded("hello")
	m.OutboundRequest("hello", "ok")
	m.OutboundRequest("hello", "refused")
	m.OutboundRequest("hello", "refused")
	if err := m.RegisterWorkers(func() map[string]int { return map[string]int{"idle": 2, "busy": 1} }); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterQueueDepth(func(ctx context.Context) (int64, error) { return 5, nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDeadLetters(func(ctx context.Context) (int64, error) { return 2, nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterRecordsDropped(dropped.Load); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics_ScrapeReportsWhatWasRecorded(t *testing.T) {
	m, b := setup(t)
	var dropped atomic.Uint64
	exercise(t, m, &dropped)
	dropped.Add(3)

	fams := parse(t, scrape(t, b))
	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"picloud_invocations_total", map[string]string{"function": "hello", "trigger": "http", "outcome": "ok"}, 2},
		{"picloud_invocations_total", map[string]string{"function": "hello", "trigger": "http", "outcome": "timeout"}, 1},
		{"picloud_invocations_total", map[string]string{"function": "nightly", "trigger": "cron", "outcome": "error"}, 1},
		{"picloud_cold_starts_total", map[string]string{"function": "hello"}, 1},
		{"picloud_worker_exits_total", map[string]string{"reason": "idle"}, 1},
		{"picloud_worker_oom_kills_total", map[string]string{"function": "hog"}, 1},
		{"picloud_worker_timeouts_total", map[string]string{"function": "slow"}, 1},
		{"picloud_overloaded_total", map[string]string{"function": "hello"}, 1},
		{"picloud_outbound_requests_total", map[string]string{"function": "hello", "outcome": "ok"}, 1},
		{"picloud_outbound_requests_total", map[string]string{"function": "hello", "outcome": "refused"}, 2},
		{"picloud_invocation_records_dropped_total", nil, 3},
	}
	for _, c := range counters {
		if got := find(t, fams, c.name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	gauges := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"picloud_workers", map[string]string{"state": "idle"}, 2},
		{"picloud_workers", map[string]string{"state": "busy"}, 1},
		{"picloud_workers", map[string]string{"state": "starting"}, 0},
		{"picloud_workers", map[string]string{"state": "stopping"}, 0},
		{"picloud_queue_depth", nil, 5},
		{"picloud_dead_letters", nil, 2},
		{"picloud_build_info", map[string]string{"version": "1.2.3-test"}, 1},
	}
	for _, g := range gauges {
		if got := find(t, fams, g.name, g.labels).GetGauge().GetValue(); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}

	h := find(t, fams, "picloud_invocation_duration_seconds", map[string]string{"function": "hello", "trigger": "http"}).GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() < 2.04 || h.GetSampleSum() > 2.05 {
		t.Errorf("invocation histogram: count %d sum %v, want 3 and 2.043", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, bk := range h.GetBucket() {
		if bk.GetUpperBound() == 0.005 && bk.GetCumulativeCount() != 1 {
			t.Errorf("bucket le=0.005 holds %d, want 1 (the 3ms call)", bk.GetCumulativeCount())
		}
	}
	if c := find(t, fams, "picloud_cold_start_duration_seconds", map[string]string{"function": "hello"}).GetHistogram().GetSampleCount(); c != 1 {
		t.Errorf("cold start histogram count %d, want 1", c)
	}
	if c := find(t, fams, "picloud_queue_wait_seconds", map[string]string{"function": "hello"}).GetHistogram().GetSampleCount(); c != 1 {
		t.Errorf("queue wait histogram count %d, want 1", c)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("runtime/process metric %s missing", name)
		}
	}
}

func TestMetrics_LintClean(t *testing.T) {
	m, b := setup(t)
	var dropped atomic.Uint64
	exercise(t, m, &dropped)
	problems, err := testutil.GatherAndLint(b.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// TestMetrics_PromtoolCheckMetrics runs Debian's promtool on a real scrape.
// `make test-metrics` installs it and sets PROMTOOL.
func TestMetrics_PromtoolCheckMetrics(t *testing.T) {
	promtool := os.Getenv("PROMTOOL")
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Skip("promtool not found: set PROMTOOL or run `make test-metrics`, which installs it")
		}
	}
	m, b := setup(t)
	var dropped atomic.Uint64
	exercise(t, m, &dropped)
	text := scrape(t, b)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Fatalf("promtool check metrics reported problems:\n%s", s)
	}
}

func TestMetrics_FailingQueryDropsOnlyItsGauge(t *testing.T) {
	m, b := setup(t)
	if err := m.RegisterQueueDepth(func(ctx context.Context) (int64, error) {
		return 0, errors.New("database is down")
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDeadLetters(func(ctx context.Context) (int64, error) { return 4, nil }); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, scrape(t, b))
	if _, ok := fams["picloud_queue_depth"]; ok {
		t.Error("a failing queue depth query must leave the gauge out of the scrape")
	}
	if got := find(t, fams, "picloud_dead_letters", nil).GetGauge().GetValue(); got != 4 {
		t.Errorf("dead letters = %v, want 4", got)
	}
}

func TestMetrics_QueryGetsDeadline(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{ScrapeTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var sawDeadline atomic.Bool
	if err := m.RegisterQueueDepth(func(ctx context.Context) (int64, error) {
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if !sawDeadline.Load() {
		t.Error("the query callback must get a context with a deadline")
	}
}

func TestMetrics_ForgetFunctionDropsItsSeries(t *testing.T) {
	m, b := setup(t)
	m.ObserveInvocation("gone", TriggerHTTP, OutcomeOK, time.Millisecond)
	m.ColdStart("gone", time.Millisecond)
	m.ObserveInvocation("kept", TriggerHTTP, OutcomeOK, time.Millisecond)
	m.ForgetFunction("gone")
	text := scrape(t, b)
	if strings.Contains(text, `function="gone"`) {
		t.Errorf("series of a forgotten function remain:\n%s", text)
	}
	if !strings.Contains(text, `function="kept"`) {
		t.Error("ForgetFunction dropped another function's series")
	}
}

func TestMetrics_RegisterTwiceFails(t *testing.T) {
	m, _ := setup(t)
	f := func(ctx context.Context) (int64, error) { return 0, nil }
	if err := m.RegisterDeadLetters(f); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDeadLetters(f); err == nil {
		t.Fatal("registering dead letters twice must fail")
	}
}

func TestNew_RejectsNilRegistryAndSharedCollectors(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New(nil) must fail")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(reg, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg, Options{}); err == nil {
		t.Fatal("a second New on the same registry must fail (duplicate metrics)")
	}
}
