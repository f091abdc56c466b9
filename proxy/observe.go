package proxy

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/valyala/fasthttp"
)

// RequestMetrics resolves a route's series once, when the routing table is
// built (package metrics' Route), so that counting a request on the path
// looks nothing up by name.
type RequestMetrics interface {
	Route(route, service string) RouteMetrics
}

// RouteMetrics counts one route's requests. Request gets the answer's
// status, the credential kind that decided it (credentialAPIKey …), the
// consumer ("" for none), the upstream's time (0: not forwarded) and the
// gateway's whole time; Auth an authentication outcome (outcomeGranted …).
// Neither may wait or allocate: they are on the request path.
type RouteMetrics interface {
	Request(status int, credential, consumer string, upstream, total time.Duration)
	Auth(outcome string)
}

// RequestMetricsFunc adapts a function to RequestMetrics.
type RequestMetricsFunc func(route, service string) RouteMetrics

func (f RequestMetricsFunc) Route(route, service string) RouteMetrics { return f(route, service) }

type nopRouteMetrics struct{}

func (nopRouteMetrics) Request(int, string, string, time.Duration, time.Duration) {}
func (nopRouteMetrics) Auth(string)                                               {}

// Credential kinds, as metrics and the access log name them.
const (
	credentialAPIKey    = "api_key"
	credentialHMAC      = "hmac"
	credentialOAuth2    = "oauth2"
	credentialAnonymous = "anonymous"
	credentialNone      = "none"
)

// Authentication outcomes.
const (
	outcomeGranted     = "granted"
	outcomeMissing     = "missing"
	outcomeMalformed   = "malformed"
	outcomeUnknown     = "unknown"
	outcomeExpired     = "expired"
	outcomeRevoked     = "revoked"
	outcomeInvalid     = "invalid"
	outcomeForbidden   = "forbidden"
	outcomeRateLimited = "rate_limited"
	outcomeBlocked     = "blocked"
	outcomeTooLarge    = "too_large"
	outcomeError       = "error"
	outcomeAnonymous   = "anonymous" // no credential, served as the route's anonymous consumer
)

// unmatchedRoute is the route label of requests no route matched.
const unmatchedRoute = "unmatched"

// routeMetrics resolves rt's series.
func (p *Proxy) routeMetrics(r *keygate.Route, u *upstream) RouteMetrics {
	if p.cfg.Requests == nil {
		return nopRouteMetrics{}
	}
	return p.cfg.Requests.Route(labelOf(r.Name, r.ID), labelOf(u.service.Name, u.service.ID))
}

func labelOf(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// kind is the credential kind of rt's i-th authenticator.
func (rt *route) kind(i int) string {
	if i < len(rt.kinds) {
		return rt.kinds[i]
	}
	return credentialNone
}

// refusedOutcome names why a credential was refused.
func refusedOutcome(res *auth.Result) string {
	switch res.Reason {
	case keygate.CodeMalformed:
		return outcomeMalformed
	case keygate.CodeNotFound:
		return outcomeUnknown
	case keygate.CodeExpired:
		return outcomeExpired
	case keygate.CodeRevoked:
		return outcomeRevoked
	}
	return outcomeInvalid
}

// finish counts x once Serve is done with it (an answer streamed from the
// upstream is still on its way: its time is the upstream's, not the
// gateway's), and writes its access log line.
func (p *Proxy) finish(x *exchange) {
	if !x.observed {
		return
	}
	total := time.Since(x.start)
	status := x.ctx.Response.StatusCode()
	if x.outcome == outcomeGranted && status == fasthttp.StatusTooManyRequests && x.gatewayAnswered {
		x.outcome = outcomeRateLimited
	}
	m := p.unmatched
	if x.route != nil {
		m = x.route.metrics
	}
	credential := x.credential
	if credential == "" {
		credential = credentialNone
	}
	var consumer string
	if p.consumerLabels && x.who.Consumer != nil {
		consumer = labelOf(x.who.Consumer.Username, x.who.Consumer.ID)
	}
	m.Request(status, credential, consumer, x.upstream, total)
	if x.outcome != "" {
		m.Auth(x.outcome)
	}
	if p.cfg.AccessLog != nil && (p.cfg.AccessLogSample >= 1 || rand.Float64() < p.cfg.AccessLogSample) {
		p.accessLog(x, status, credential, total)
	}
}

// accessLog writes x's line: who called what and how it went, never a
// secret (the credential is named by its id).
func (p *Proxy) accessLog(x *exchange, status int, credential string, total time.Duration) {
	route, service := unmatchedRoute, ""
	if x.route != nil {
		route, service = labelOf(x.route.Name, x.route.ID), labelOf(x.route.upstream.service.Name, x.route.upstream.service.ID)
	}
	req := &x.ctx.Request
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("request_id", x.id),
		slog.String("method", string(req.Header.Method())),
		slog.String("path", x.path),
		slog.String("route", route),
		slog.String("service", service),
		slog.String("client_ip", ipString(x)),
		slog.Int("status", status),
		slog.String("credential", credential),
	)
	if x.who.Consumer != nil {
		attrs = append(attrs, slog.String("consumer_id", x.who.Consumer.ID))
		if x.who.Consumer.Username != "" {
			attrs = append(attrs, slog.String("consumer", x.who.Consumer.Username))
		}
	}
	if id := x.who.CredentialRecord; id != "" {
		attrs = append(attrs, slog.String("credential_id", id))
	}
	if x.outcome != "" {
		attrs = append(attrs, slog.String("auth", x.outcome))
	}
	if n := req.Header.ContentLength(); n > 0 {
		attrs = append(attrs, slog.Int("bytes_in", n))
	}
	res := &x.ctx.Response
	if res.IsBodyStream() {
		if n := res.Header.ContentLength(); n >= 0 {
			attrs = append(attrs, slog.Int("bytes_out", n))
		}
	} else {
		attrs = append(attrs, slog.Int("bytes_out", len(res.Body())))
	}
	attrs = append(attrs,
		slog.Float64("latency_ms", ms(total)),
		slog.Float64("upstream_ms", ms(x.upstream)),
		slog.Float64("gateway_ms", ms(max(total-x.upstream, 0))))
	p.cfg.AccessLog.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}

func ipString(x *exchange) string {
	if !x.client.IsValid() {
		return ""
	}
	return x.client.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
