package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds keygate's counters in a registry of its own.
type Metrics struct {
	registry *prometheus.Registry

	allowed, limited, failedOpen, failedClosed prometheus.Counter

	usageFlushed, usageFlushFailures, usageDropped prometheus.Counter
}

// New returns the counters, registered with Go's runtime and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_rate_limit_decisions_total",
		Help: "Rate-limit decisions on the request path: allowed, limited (429), and failed_open or failed_closed (503) when the limiter could not decide.",
	}, []string{"result"})
	m := &Metrics{
		registry:     reg,
		allowed:      decisions.WithLabelValues("allowed"),
		limited:      decisions.WithLabelValues("limited"),
		failedOpen:   decisions.WithLabelValues("failed_open"),
		failedClosed: decisions.WithLabelValues("failed_closed"),
		usageFlushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_usage_records_written_total",
			Help: "Usage records (credential, route, minute) written to the store.",
		}),
		usageFlushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_usage_write_failures_total",
			Help: "Writes of usage records the store refused; the records are kept and written again.",
		}),
		usageDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_usage_records_dropped_total",
			Help: "Usage records dropped because the store refused writes for too long.",
		}),
	}
	reg.MustRegister(decisions, m.usageFlushed, m.usageFlushFailures, m.usageDropped)
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry is where further collectors can be added.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// RateLimited counts one decision: allowed or refused.
func (m *Metrics) RateLimited(allowed bool) {
	if allowed {
		m.allowed.Inc()
	} else {
		m.limited.Inc()
	}
}

// RateLimitFailed counts one request the limiter could not decide, and
// what was done: served (fail open) or refused with 503 (fail closed).
func (m *Metrics) RateLimitFailed(failOpen bool) {
	if failOpen {
		m.failedOpen.Inc()
	} else {
		m.failedClosed.Inc()
	}
}

func (m *Metrics) UsageFlushed(records int) { m.usageFlushed.Add(float64(records)) }
func (m *Metrics) UsageFlushFailed()        { m.usageFlushFailures.Inc() }
func (m *Metrics) UsageDropped(records int) { m.usageDropped.Add(float64(records)) }
