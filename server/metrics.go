package server

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/metrics"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// newMetrics creates the server's metrics on a registry of its own.
func newMetrics(cfg Config, log hclog.Logger) (*metrics.Metrics, error) {
	return metrics.New(prometheus.NewRegistry(), metrics.Options{Version: cfg.Version, Logger: log.Named("metrics")})
}

// wireMetrics connects the metrics to what they read at scrape time and
// to the API's invocations, and serves /metrics (scope read, like every
// other read of the control plane).
func wireMetrics(met *metrics.Metrics, st *store.Store, sup *supervisor.Supervisor, writer *store.InvocationWriter, h *api.API) error {
	if err := met.RegisterWorkers(func() map[string]int {
		n := map[string]int{}
		for _, w := range sup.Status().Workers {
			n[w.State]++
		}
		return n
	}); err != nil {
		return err
	}
	if err := met.RegisterRecordsDropped(writer.Dropped); err != nil {
		return err
	}
	if err := met.RegisterDeadLetters(st.CountDeadLetters); err != nil {
		return err
	}
	if err := met.RegisterQueueDepth(st.CountPendingJobs); err != nil {
		return err
	}
	if err := met.RegisterFrontRefused(h.FrontRefused); err != nil {
		return err
	}
	h.HandleHTTP(http.MethodGet, "/metrics", api.ScopeRead, met.Handler())
	return nil
}

// metricsObserver counts every run the invoker makes, for any trigger.
type metricsObserver struct{ met *metrics.Metrics }

func (o metricsObserver) ObserveInvocation(function, trigger string, outcome functions.Outcome, d time.Duration) {
	o.met.ObserveInvocation(function, trigger, string(outcome), d)
}
