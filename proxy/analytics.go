package proxy

import (
	"cmp"

	"github.com/valyala/fasthttp"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/meter"
)

// verdict is a judged credential: the outcome code, as the verify API
// would name it, and the key and consumer when they were found.
type verdict struct {
	code              keygate.VerifyCode
	keyID, consumerID string
}

// verdictOf is res's verdict; its code is "" when no credential was judged
// (none sent, a body too large). The gateway's answer may refine a VALID
// one (countVerification).
func verdictOf(res *auth.Result) verdict {
	v := verdict{code: codeOf(res), keyID: res.CredentialRecord}
	if res.Consumer != nil {
		v.consumerID = res.Consumer.ID
	}
	return v
}

func codeOf(res *auth.Result) keygate.VerifyCode {
	switch res.Verdict {
	case auth.Granted:
		return keygate.CodeValid
	case auth.Forbidden:
		switch {
		case res.Reason != "":
			return res.Reason
		case res.Message == "Your IP address is not allowed": // keyauth's; it sets no Reason on Forbidden
			return keygate.CodeIPNotAllowed
		}
		return keygate.CodeForbidden
	case auth.Unauthenticated:
		if res.Reason != "" {
			return res.Reason
		}
		return keygate.CodeNotFound // a credential kind that gives no reason: not one it accepts
	}
	return ""
}

// countVerification counts the outcome of x's credential for the
// verification analytics, once the gateway answered: a VALID key the
// gateway refused afterwards counts as RATE_LIMITED or USAGE_EXCEEDED (429, as its limits or credits said) or FORBIDDEN
// (403, its consumer's groups); one the gateway failed to serve (5xx of
// its own: the limiter down) is not a judgement and is not counted.
func (p *Proxy) countVerification(x *exchange) {
	code := x.verdict.code
	if code == "" || p.cfg.Meter == nil {
		return
	}
	if code == keygate.CodeValid && x.gatewayAnswered {
		switch s := x.ctx.Response.StatusCode(); {
		case s == fasthttp.StatusTooManyRequests:
			code = cmp.Or(x.refusedAs, keygate.CodeRateLimited) // the limits' or the credits' code
		case s == fasthttp.StatusForbidden:
			code = keygate.CodeForbidden
		case s >= 500:
			return
		}
	}
	v := meter.Verification{At: p.cfg.Now(), KeyID: x.verdict.keyID, ConsumerID: x.verdict.consumerID,
		ServiceID: x.route.upstream.service.ID, RouteID: x.route.ID, Source: keygate.SourceGateway, Code: code}
	p.cfg.Meter.CountVerification(&v)
}
