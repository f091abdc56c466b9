package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/limiting"
	"github.com/valyala/fasthttp"
)

// plan is a usage plan compiled for the request path: the limits and cost
// of each route it adjusts, and those of every other route.
type plan struct {
	id          string
	limitBy     keygate.LimitBy
	hideHeaders bool
	limits      keygate.Limits
	cost        int
	routes      map[string]*planRoute // by route id
}

type planRoute struct {
	limits keygate.Limits
	cost   int
}

func compilePlan(p *keygate.Plan) *plan {
	cp := &plan{id: p.ID, limitBy: p.LimitBy, hideHeaders: p.HideClientHeaders, routes: make(map[string]*planRoute, len(p.Routes))}
	cp.limits, cp.cost = p.Limits("") // no route has an empty id: the plan's own limits
	for _, r := range p.Routes {
		pr := &planRoute{}
		pr.limits, pr.cost = p.Limits(r.Route.ID)
		cp.routes[r.Route.ID] = pr
	}
	return cp
}

func (p *plan) forRoute(routeID string) (*keygate.Limits, int) {
	if r := p.routes[routeID]; r != nil {
		return &r.limits, r.cost
	}
	return &p.limits, p.cost
}

// subject is whose counters a request of who on rt goes to, after the
// plan's limit_by (keygate.PlanSubject, which the verify API uses too).
func (p *plan) subject(who *auth.Result, rt *route, client netip.Addr) keygate.Subject {
	var consumer string
	if who.Consumer != nil {
		consumer = who.Consumer.ID
	}
	return keygate.PlanSubject(p.limitBy, p.id, rt.ID, who.Lineage, consumer, client)
}

// limit applies the usage plan of x's caller. It writes the refusal itself
// (429, or 503 when the limiter cannot decide and the operator chose to
// fail closed) and reports whether to go on. Allowed and refused answers
// carry the limits' state in RateLimit-* and X-RateLimit-* headers.
func (p *Proxy) limit(x *exchange) bool {
	pl := p.table.Load().plans[x.who.PlanID]
	if pl == nil {
		return true // assigned plans cannot be deleted; this one is being created or reloaded
	}
	limits, cost := pl.forRoute(x.route.ID)
	if limits.IsZero() {
		return true
	}
	subject := pl.subject(&x.who, x.route, x.client)
	code, d, err := limiting.Apply(context.Background(), p.cfg.Limiter, subject, limits, cost)
	if err != nil {
		p.metrics.RateLimitFailed(p.cfg.RateLimitFailOpen)
		p.limiterFailures.report(p, x.id, err)
		if p.cfg.RateLimitFailOpen {
			return true
		}
		p.writeError(x, fasthttp.StatusServiceUnavailable, "Rate limiting is unavailable; try again later")
		return false
	}
	p.metrics.RateLimited(d.Allowed)
	x.limits, x.showLimits = d, !pl.hideHeaders
	if code == keygate.CodeValid {
		p.cfg.LimitEvents.QuotaExhausted(&d, limits, pl.id, x.who.CredentialRecord, consumerID(&x.who), subject)
	}
	if !d.Allowed {
		var b [20]byte
		x.ctx.Response.Header.SetBytesV("Retry-After", strconv.AppendInt(b[:0], ceilSeconds(d.RetryAfter), 10))
		x.refusedAs = code
		p.writeError(x, fasthttp.StatusTooManyRequests, "API rate limit exceeded")
		return false
	}
	return true
}

func consumerID(who *auth.Result) string {
	if who.Consumer != nil {
		return who.Consumer.ID
	}
	return ""
}

// spendCredits deducts the request's cost (the plan's for the route, else
// 1) from the key's credits, as the verify API does. Out of credits is a
// 429; a store that cannot tell is a 503, whatever the rate limiter's
// fail-open: credits are exact or nothing.
func (p *Proxy) spendCredits(x *exchange) bool {
	cost := 1
	if pl := p.table.Load().plans[x.who.PlanID]; pl != nil {
		_, cost = pl.forRoute(x.route.ID)
	}
	code, _, err := p.cfg.LimitEvents.Spend(context.Background(), p.cfg.Credits, x.who.CredentialRecord, consumerID(&x.who), cost, p.cfg.Now())
	switch {
	case err != nil:
		p.cfg.Logger.Error("credits unavailable", "request_id", x.id, "error", err)
		p.writeError(x, fasthttp.StatusServiceUnavailable, "Credits are unavailable; try again later")
		return false
	case code != keygate.CodeValid:
		x.refusedAs = code
		p.writeError(x, fasthttp.StatusTooManyRequests, "API usage exceeded: no credits left")
		return false
	}
	return true
}

// Header names, canonical (Kong spells them X-RateLimit-…), per period (index Period-1) and for
// the rate.
var (
	headerLimitSecond     = []byte("X-Ratelimit-Limit-Second")
	headerRemainingSecond = []byte("X-Ratelimit-Remaining-Second")
	headerLimitPeriod     [keygate.PeriodCount][]byte
	headerRemainingPeriod [keygate.PeriodCount][]byte
	headerLimit           = []byte("Ratelimit-Limit")
	headerRemaining       = []byte("Ratelimit-Remaining")
	headerReset           = []byte("Ratelimit-Reset")
	// Every rate-limit header's name begins with one of these.
	headerXRateLimitPrefix = []byte("X-Ratelimit-")
	headerRateLimitPrefix  = []byte("Ratelimit-")
)

func init() {
	for i := range keygate.PeriodCount {
		title := keygate.Period(i + 1).Title()
		headerLimitPeriod[i] = []byte(http.CanonicalHeaderKey("X-RateLimit-Limit-" + title))
		headerRemainingPeriod[i] = []byte(http.CanonicalHeaderKey("X-RateLimit-Remaining-" + title))
	}
}

// rateLimitHeaders writes each configured limit as Kong does
// (X-RateLimit-Limit-Minute, X-RateLimit-Remaining-Minute; the rate as
// -Second, its limit being the burst), and the one closest to refusing —
// the fewest remaining, the longest to reset on a tie — as RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (seconds), after the IETF draft.
// They replace any the upstream sent: these are the gateway's limits.
func rateLimitHeaders(h *fasthttp.ResponseHeader, d *keygate.LimitDecision) {
	var digits [20]byte
	set := func(name []byte, v int64) {
		h.SetCanonical(name, strconv.AppendInt(digits[:0], v, 10))

	}
	var closest *keygate.LimitState
	if d.Rate.Limit > 0 {
		set(headerLimitSecond, d.Rate.Limit)
		set(headerRemainingSecond, d.Rate.Remaining)
		closest = &d.Rate
	}
	for i := range d.Quotas {
		q := &d.Quotas[i]
		if q.Limit == 0 {
			continue
		}
		set(headerLimitPeriod[i], q.Limit)
		set(headerRemainingPeriod[i], q.Remaining)
		if closest == nil || q.Remaining < closest.Remaining || q.Remaining == closest.Remaining && q.Reset > closest.Reset {
			closest = q
		}
	}
	if closest == nil {
		return
	}
	set(headerLimit, closest.Limit)
	set(headerRemaining, closest.Remaining)
	set(headerReset, ceilSeconds(closest.Reset))
}

// ceilSeconds rounds up, so that a client waiting that long is not early.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// failureLog logs a limiter failure at most once a second, with the
// number of failures since the last line, so that an outage under load
// does not flood the log.
type failureLog struct {
	last       atomic.Int64 // unix ns of the last line
	suppressed atomic.Int64
}

func (f *failureLog) report(p *Proxy, requestID string, err error) {
	now := time.Now().UnixNano()
	last := f.last.Load()
	if now-last < int64(time.Second) || !f.last.CompareAndSwap(last, now) {
		f.suppressed.Add(1)
		return
	}
	action := "refusing requests with 503 (fail closed)"
	if p.cfg.RateLimitFailOpen {
		action = "serving requests unlimited (fail open)"
	}
	p.cfg.Logger.Error("rate limiter unavailable; "+action, "request_id", requestID,
		"failures_since_last_report", f.suppressed.Swap(0), "error", err)
}

// Metrics learns the proxy's rate-limit decisions.
type Metrics interface {
	RateLimited(allowed bool)
	RateLimitFailed(failOpen bool)
}

type nopMetrics struct{}

func (nopMetrics) RateLimited(bool)     {}
func (nopMetrics) RateLimitFailed(bool) {}
