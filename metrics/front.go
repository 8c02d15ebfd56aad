package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterFrontRefused exports the /fn calls refused by a function's HTTP
// front before any worker ran, by reason: f returns the counts of
// "rate_limited" (deploy --rate) and "origin_not_allowed" (CORS
// preflights from an origin not listed).
func (m *Metrics) RegisterFrontRefused(f func() (rateLimited, originRefused uint64)) error {
	return m.register(&frontCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "fn_refused_total"),
			"Calls of /fn refused before any worker ran (this node), by reason.", []string{"reason"}, nil),
		f: f,
	}, "fn_refused_total")
}

type frontCollector struct {
	desc *prometheus.Desc
	f    func() (uint64, uint64)
}

func (c *frontCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *frontCollector) Collect(ch chan<- prometheus.Metric) {
	rl, origin := c.f()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(rl), "rate_limited")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(origin), "origin_not_allowed")
}
