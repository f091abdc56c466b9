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
	oauth2Tokens                               *prometheus.CounterVec

	usageFlushed, usageFlushFailures, usageDropped prometheus.Counter

	verifications map[verificationLabel]prometheus.Counter

	req requestVecs
	bg  backgroundVecs
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
	m.oauth2Tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_oauth2_token_requests_total",
		Help: "Token endpoint requests by result: issued, or the RFC 6749 error code of the refusal (invalid_client, invalid_scope, ...), or failed (503).",
	}, []string{"result"})
	reg.MustRegister(decisions, m.usageFlushed, m.usageFlushFailures, m.usageDropped, m.oauth2Tokens)
	verifications, series := newVerifications()
	m.verifications = series
	reg.MustRegister(verifications)
	m.req, m.bg = newRequestVecs(), newBackgroundVecs()
	reg.MustRegister(m.req.requests, m.req.outcomes, m.req.upstream, m.req.gateway,
		m.bg.webhooks, m.bg.jobs, m.bg.storeErrors, m.bg.accessDrops)
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

// OAuth2Token counts a token endpoint request by its result (a bounded
// set: issued, failed, or an RFC 6749 error code).
func (m *Metrics) OAuth2Token(result string) { m.oauth2Tokens.WithLabelValues(result).Inc() }

func (m *Metrics) UsageFlushed(records int) { m.usageFlushed.Add(float64(records)) }
func (m *Metrics) UsageFlushFailed()        { m.usageFlushFailures.Inc() }
func (m *Metrics) UsageDropped(records int) { m.usageDropped.Add(float64(records)) }

// KeyCacheStats are the API key cache's counts since the node started, and
// what it holds now. Hits are lookups the cache answered: with a key, or
// with a cached miss (no key has that identifier); Misses went to the store.
// Evictions were dropped to make room.
type KeyCacheStats struct {
	Hits, MissHits, Misses   uint64
	Evictions, MissEvictions uint64
	Keys, CachedMisses       int
}

// KeyCache exposes the API key cache's counts, read from stats at every
// scrape: the cache counts on its own (per shard, off the hit's shared
// lines), so a hit pays for no Prometheus counter.
func (m *Metrics) KeyCache(stats func() KeyCacheStats) {
	m.registry.MustRegister(keyCacheCollector{stats})
}

var (
	keyCacheHits = prometheus.NewDesc("keygate_key_cache_hits_total",
		"API key lookups the cache answered, by what it held: a key, or the absence of one (a cached miss).", []string{"entry"}, nil)
	keyCacheMisses = prometheus.NewDesc("keygate_key_cache_misses_total",
		"API key lookups the cache could not answer, read from the store.", nil, nil)
	keyCacheEvictions = prometheus.NewDesc("keygate_key_cache_evictions_total",
		"Cache entries dropped to make room (--key-cache-size), by kind: keys, or absences of one.", []string{"entry"}, nil)
	keyCacheEntries = prometheus.NewDesc("keygate_key_cache_entries",
		"Entries in the API key cache, by kind: keys, or absences of one.", []string{"entry"}, nil)
)

type keyCacheCollector struct{ stats func() KeyCacheStats }

func (c keyCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyCacheHits
	ch <- keyCacheMisses
	ch <- keyCacheEvictions
	ch <- keyCacheEntries
}

func (c keyCacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(keyCacheHits, prometheus.CounterValue, float64(s.Hits), "key")
	ch <- prometheus.MustNewConstMetric(keyCacheHits, prometheus.CounterValue, float64(s.MissHits), "absent")
	ch <- prometheus.MustNewConstMetric(keyCacheMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(keyCacheEvictions, prometheus.CounterValue, float64(s.Evictions), "key")
	ch <- prometheus.MustNewConstMetric(keyCacheEvictions, prometheus.CounterValue, float64(s.MissEvictions), "absent")
	ch <- prometheus.MustNewConstMetric(keyCacheEntries, prometheus.GaugeValue, float64(s.Keys), "key")
	ch <- prometheus.MustNewConstMetric(keyCacheEntries, prometheus.GaugeValue, float64(s.CachedMisses), "absent")
}

// KeyFilterStats are the counts of the filter of issued key identifiers:
// what it holds, and what it decided since the node started. Admitted were
// read from the store (issued, or a false positive); UnknownReads were read
// within the budget for identifiers it did not know; Rejected were refused
// without a read.
type KeyFilterStats struct {
	Identifiers, Bytes               int
	Admitted, UnknownReads, Rejected int64
}

// KeyFilter exposes the filter's counts, read from stats at every scrape.
func (m *Metrics) KeyFilter(stats func() KeyFilterStats) {
	m.registry.MustRegister(keyFilterCollector{stats})
}

var (
	keyFilterIdentifiers = prometheus.NewDesc("keygate_key_filter_identifiers",
		"Key identifiers in the filter of issued identifiers (its last build and those added since).", nil, nil)
	keyFilterBytes = prometheus.NewDesc("keygate_key_filter_bytes",
		"Size of the filter's last build in bytes.", nil, nil)
	keyFilterAdmitted = prometheus.NewDesc("keygate_key_filter_admitted_total",
		"Key identifiers not cached that the filter admitted, each then read from the store: keys issued, and its false positives (about 0.4% of the others).", nil, nil)
	keyFilterUnknownReads = prometheus.NewDesc("keygate_key_filter_unknown_reads_total",
		"Store reads for key identifiers the filter did not know, within --unknown-key-reads.", nil, nil)
	keyFilterRejected = prometheus.NewDesc("keygate_key_filter_rejected_total",
		"Requests with a key identifier the filter did not know, refused (401) without a store read.", nil, nil)
)

type keyFilterCollector struct{ stats func() KeyFilterStats }

func (c keyFilterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyFilterIdentifiers
	ch <- keyFilterBytes
	ch <- keyFilterAdmitted
	ch <- keyFilterUnknownReads
	ch <- keyFilterRejected
}

func (c keyFilterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(keyFilterIdentifiers, prometheus.GaugeValue, float64(s.Identifiers))
	ch <- prometheus.MustNewConstMetric(keyFilterBytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(keyFilterAdmitted, prometheus.CounterValue, float64(s.Admitted))
	ch <- prometheus.MustNewConstMetric(keyFilterUnknownReads, prometheus.CounterValue, float64(s.UnknownReads))
	ch <- prometheus.MustNewConstMetric(keyFilterRejected, prometheus.CounterValue, float64(s.Rejected))
}

// TargetHealth is one upstream target's health as this node sees it:
// healthy, unhealthy, or unchecked (the service has no health check).
type TargetHealth struct {
	Service, Target, State string
}

// TargetHealthStates are the states keygate_upstream_target_health reports.
var TargetHealthStates = []string{"healthy", "unhealthy", "unchecked"}

// UpstreamTargets exposes the health of every service's targets, read from
// states at every scrape: 1 for a target's current state, 0 for the others
// (as Kong's kong_upstream_target_health). Services have at most 64
// targets, which bounds the series.
func (m *Metrics) UpstreamTargets(states func() []TargetHealth) {
	m.registry.MustRegister(targetHealthCollector{states})
}

var targetHealth = prometheus.NewDesc("keygate_upstream_target_health",
	"Health of each upstream target as this node sees it: 1 for its current state.", []string{"service", "target", "state"}, nil)

type targetHealthCollector struct{ states func() []TargetHealth }

func (c targetHealthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- targetHealth }

func (c targetHealthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.states() {
		for _, state := range TargetHealthStates {
			v := 0.0
			if state == t.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(targetHealth, prometheus.GaugeValue, v, t.Service, t.Target, state)
		}
	}
}
