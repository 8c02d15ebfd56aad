package server

import (
	"errors"
	"net/http"
	"strings"

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
	h.SetInvocationObserver(func(inv *functions.Invocation) {
		met.ObserveInvocation(inv.Function, inv.Trigger, invocationOutcome(inv), inv.Duration)
	})
	h.HandleHTTP(http.MethodGet, "/metrics", api.ScopeRead, met.Handler())
	return nil
}

// invocationOutcome is the outcome label of a finished invocation, read
// from the status the API answered it with.
func invocationOutcome(inv *functions.Invocation) string {
	if inv.Status != functions.StatusFailed {
		return metrics.OutcomeOK
	}
	switch inv.HTTPStatus {
	case http.StatusGatewayTimeout:
		return metrics.OutcomeTimeout
	case http.StatusServiceUnavailable:
		return metrics.OutcomeOverloaded
	case http.StatusBadGateway:
		if strings.Contains(inv.Error, "memory limit") {
			return metrics.OutcomeMemory
		}
		return metrics.OutcomeCrash
	}
	return metrics.OutcomeError
}

// callOutcome is the outcome label of a call the supervisor answered with
// err (nil on success).
func callOutcome(err error) string {
	var ie *supervisor.InvokeError
	switch {
	case err == nil:
		return metrics.OutcomeOK
	case errors.Is(err, supervisor.ErrOverloaded):
		return metrics.OutcomeOverloaded
	case errors.As(err, &ie):
		switch ie.Kind {
		case supervisor.KindTimeout:
			return metrics.OutcomeTimeout
		case supervisor.KindMemory:
			return metrics.OutcomeMemory
		case supervisor.KindCrash, supervisor.KindStart:
			return metrics.OutcomeCrash
		}
	}
	return metrics.OutcomeError
}
