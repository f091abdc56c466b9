package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the request metrics. Each is a small fixed set, so the
// series are bounded by routes × these; no key or consumer is a label
// unless per-consumer labels are turned on (ConsumerLabels).
var (
	// StatusClasses are the status_class values: 1xx … 5xx.
	StatusClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}
	// Credentials are the credential values: the kind that decided the
	// request, "anonymous" (the route's anonymous consumer) or "none".
	Credentials = []string{"api_key", "hmac", "oauth2", "anonymous", "none"}
	// AuthOutcomes are the outcome values of keygate_auth_outcomes_total.
	AuthOutcomes = []string{"granted", "missing", "malformed", "unknown", "expired", "revoked", "invalid",
		"forbidden", "rate_limited", "blocked", "too_large", "error"}
)

// Unmatched is the route (and service) label of requests no route matched.
const Unmatched = "unmatched"

// Buckets of the latency histograms, in seconds. The gateway's own share
// is expected in tens of microseconds, an upstream's in milliseconds.
var (
	upstreamBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	gatewayBuckets  = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
)

type requestVecs struct {
	requests  *prometheus.CounterVec
	outcomes  *prometheus.CounterVec
	upstream  *prometheus.HistogramVec
	gateway   *prometheus.HistogramVec
	consumers *prometheus.CounterVec // nil unless ConsumerLabels
}

func newRequestVecs() requestVecs {
	return requestVecs{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_requests_total",
			Help: "Requests on the proxy listener by route, service, status class of the answer and the credential kind that decided them (api_key, hmac, oauth2, anonymous, none); route \"unmatched\": no route matched.",
		}, []string{"route", "service", "status_class", "credential"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_auth_outcomes_total",
			Help: "Authentication outcomes on routes with authentication: granted, missing, malformed, unknown, expired, revoked, invalid (other refusals), forbidden, rate_limited (429 from the plan), blocked (address blocked by the anomaly detector), too_large, error (could not decide: 503).",
		}, []string{"route", "outcome"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keygate_upstream_duration_seconds",
			Help:    "Time the upstream took to answer (to its response headers; the whole body when read at once), retries included.",
			Buckets: upstreamBuckets,
		}, []string{"route", "service"}),
		gateway: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keygate_gateway_duration_seconds",
			Help:    "Time the gateway added to a request: its whole time on the request path less the upstream's.",
			Buckets: gatewayBuckets,
		}, []string{"route", "service"}),
	}
}

// ConsumerLabels turns on keygate_consumer_requests_total, requests by
// consumer, route and status class: one series per consumer and route, so
// off by default. Call it before the first Route.
func (m *Metrics) ConsumerLabels() {
	if m.req.consumers != nil {
		return
	}
	m.req.consumers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_consumer_requests_total",
		Help: "Requests by consumer (username, else id), route and status class; only with --metrics-consumer-labels.",
	}, []string{"consumer", "route", "status_class"})
	m.registry.MustRegister(m.req.consumers)
}

// RouteMetrics are one route's series, resolved once when the routing
// table is built, so that counting a request looks nothing up by name and
// allocates nothing.
type RouteMetrics struct {
	route    string
	requests [5][5]prometheus.Counter // status class × credential
	outcomes []prometheus.Counter     // by AuthOutcomes
	upstream prometheus.Observer
	gateway  prometheus.Observer
	consumer *prometheus.CounterVec
}

// Route returns the series of the route named route of service service.
// The proxy calls it per route when it builds its routing table.
func (m *Metrics) Route(route, service string) *RouteMetrics {
	r := &RouteMetrics{route: route, consumer: m.req.consumers,
		upstream: m.req.upstream.WithLabelValues(route, service),
		gateway:  m.req.gateway.WithLabelValues(route, service),
		outcomes: make([]prometheus.Counter, len(AuthOutcomes))}
	for i, class := range StatusClasses {
		for j, cred := range Credentials {
			r.requests[i][j] = m.req.requests.WithLabelValues(route, service, class, cred)
		}
	}
	for i, o := range AuthOutcomes {
		r.outcomes[i] = m.req.outcomes.WithLabelValues(route, o)
	}
	return r
}

// Request counts one answered request: its status, the credential kind
// that decided it (one of Credentials), the consumer (for per-consumer
// labels; "" for none), the upstream's time (0: not forwarded) and the
// gateway's whole time.
func (r *RouteMetrics) Request(status int, credential, consumer string, upstream, total time.Duration) {
	class := status/100 - 1
	if class < 0 || class > 4 {
		class = 4
	}
	r.requests[class][credentialIndex(credential)].Inc()
	if upstream > 0 {
		r.upstream.Observe(upstream.Seconds())
	}
	r.gateway.Observe(max(total-upstream, 0).Seconds())
	if r.consumer != nil && consumer != "" {
		r.consumer.WithLabelValues(consumer, r.route, StatusClasses[class]).Inc()
	}
}

// Auth counts one authentication outcome (one of AuthOutcomes; others
// count as "invalid").
func (r *RouteMetrics) Auth(outcome string) {
	for i, o := range AuthOutcomes {
		if o == outcome {
			r.outcomes[i].Inc()
			return
		}
	}
	r.outcomes[6].Inc() // invalid
}

func credentialIndex(c string) int {
	switch c {
	case "api_key":
		return 0
	case "hmac":
		return 1
	case "oauth2":
		return 2
	case "anonymous":
		return 3
	}
	return 4
}

// Background work: webhook deliveries, lifecycle job runs, store errors
// outside the request path, readiness checks.
type backgroundVecs struct {
	webhooks    *prometheus.CounterVec
	jobs        *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	accessDrops prometheus.Counter
}

func newBackgroundVecs() backgroundVecs {
	return backgroundVecs{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: delivered, failed (retried later), or dead (given up).",
		}, []string{"result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_job_runs_total",
			Help: "Lifecycle job runs by job and result (ok, failed).",
		}, []string{"job", "result"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_store_errors_total",
			Help: "Store (or Redis) failures by where they happened: authenticate (a request answered 503), ready (the readiness check).",
		}, []string{"operation"}),
		accessDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_access_log_dropped_total",
			Help: "Access log lines dropped because the writer fell behind.",
		}),
	}
}

// WebhookDelivery counts one delivery attempt by its result.
func (m *Metrics) WebhookDelivery(result string) { m.bg.webhooks.WithLabelValues(result).Inc() }

// JobRun counts one run of a lifecycle job.
func (m *Metrics) JobRun(job string, failed bool) {
	result := "ok"
	if failed {
		result = "failed"
	}
	m.bg.jobs.WithLabelValues(job, result).Inc()
}

// StoreError counts one store failure at operation.
func (m *Metrics) StoreError(operation string) { m.bg.storeErrors.WithLabelValues(operation).Inc() }

// AccessLogDropped counts access log lines dropped.
func (m *Metrics) AccessLogDropped(n int) { m.bg.accessDrops.Add(float64(n)) }
