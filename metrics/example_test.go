package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picloud/picloud/metrics"
)

// The server creates the metrics on its own registry, hands them to the
// supervisor as its Observer, records each invocation, registers the
// scrape-time callbacks and mounts the handler on /metrics.
func Example() {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{Version: "1.0.0"})
	if err != nil {
		panic(err)
	}
	_ = m.RegisterQueueDepth(func(ctx context.Context) (int64, error) {
		return 0, nil // SELECT count(*) FROM ... in the events store
	})
	m.ObserveInvocation("hello", metrics.TriggerHTTP, metrics.OutcomeOK, 2*time.Millisecond)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	fmt.Println(rec.Code)
	// Output: 200
}
