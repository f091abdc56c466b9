package proxy

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/anomaly"
	"github.com/keygate/keygate/auth"
	"github.com/valyala/fasthttp"
)

// Anomalies watches the outcome of every authenticated request (package
// anomaly's Detector) and may block an address that brute-forces.
type Anomalies interface {
	// Observe must not wait: it is on the request path.
	Observe(o anomaly.Observation)
	Blocked(ip netip.Addr) (until time.Time, blocked bool)
}

// blockedByAnomaly answers 429 to a client address the detector blocked,
// before its credential is looked at, and reports whether it did. Only
// routes with authentication are blocked: the block is against guessing
// credentials, and other addresses are never affected.
func (p *Proxy) blockedByAnomaly(x *exchange) bool {
	if p.cfg.Anomalies == nil || !x.client.IsValid() {
		return false
	}
	until, blocked := p.cfg.Anomalies.Blocked(x.client)
	if !blocked {
		return false
	}
	wait := max(until.Sub(p.cfg.Now()), time.Second)
	x.ctx.Response.Header.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	p.writeError(x, fasthttp.StatusTooManyRequests, "Too many refused credentials from your address; try again later")
	return true
}

// observe tells the detector what authentication concluded about x.
func (p *Proxy) observe(x *exchange, res *auth.Result) {
	if p.cfg.Anomalies == nil {
		return
	}
	o := anomaly.Observation{IP: x.client, Route: x.route.ID, Credential: res.CredentialRecord}
	if o.Credential == "" {
		o.Credential = res.CredentialID
	}
	if res.Consumer != nil {
		o.Consumer = res.Consumer.ID
	}
	switch res.Verdict {
	case auth.Granted:
		o.Outcome = anomaly.Granted
	case auth.Forbidden:
		o.Outcome = anomaly.Forbidden
	case auth.Unauthenticated:
		switch res.Reason {
		case keygate.CodeRevoked:
			o.Outcome = anomaly.Revoked
		case keygate.CodeExpired:
			o.Outcome = anomaly.Expired
		default:
			o.Outcome, o.Presented = anomaly.Refused, res.Presented
		}
	default: // Absent, TooLarge: no credential judged
		return
	}
	p.cfg.Anomalies.Observe(o)
}
