package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/valyala/fasthttp"
)

// oauth2 is r's oauth2 authenticator. One this node cannot build (no
// local issuer configured) answers every request on the route with 503
// and a log line, rather than failing the whole routing table.
func (p *Proxy) oauth2(r *keygate.Route) auth.Authenticator {
	err := errors.New("the proxy has no OAuth 2.0 token verification configured")
	if p.cfg.OAuth2 != nil {
		a, e := p.cfg.OAuth2.New(*r.OAuth2)
		if e == nil {
			return a
		}
		err = e
	}
	err = fmt.Errorf("route %s: oauth2: %w", r.Name, err)
	p.cfg.Logger.Error("route cannot verify access tokens; its requests are refused with 503", "error", err)
	return unavailable{err}
}

// unavailable is an authenticator that fails every request: 503, never a
// 401 that would blame the caller's token.
type unavailable struct{ err error }

func (u unavailable) Authenticate(context.Context, *fasthttp.Request, keygate.Target) (auth.Result, error) {
	return auth.Result{}, u.err
}

func (unavailable) Challenge() string { return `Bearer realm="keygate"` }
