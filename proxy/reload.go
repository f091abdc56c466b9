package proxy

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/permquery"
)

// reloadTimeout bounds one rebuild or patch, which runs on the admin
// writer's goroutine.
const reloadTimeout = 10 * time.Second

// Apply is the store's change hook: a route, service, plan or
// anonymous-consumer change patches the routing table before the admin API
// answers, so that what the API created is routed once it has answered.
// A patch reads the changed row and copies only the parts of the table it
// touches, so a write costs the same with ten routes or ten thousand; the
// request path keeps matching on the previous table until the new one is
// swapped in. A patch that fails keeps the previous table and falls back to
// a rebuild, retried until one succeeds.
func (p *Proxy) Apply(c keygate.Change) {
	p.applySessionChange(c)
	switch c.Kind {
	case keygate.ServiceChanged, keygate.RouteChanged, keygate.PlanChanged:
	case keygate.ConsumerChanged:
		if !(*p.anonymous.Load())[c.ID] && !p.unresolved.Load() {
			return
		}
	default:
		return
	}
	if c.ID == "" {
		p.reloadOrRetry(time.Second) // no row to read: read them all
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	if err := p.patch(ctx, c); err != nil {
		p.cfg.Logger.Warn("routing table patch failed; rebuilding it whole", "kind", c.Kind.String(), "id", c.ID, "error", err)
		p.reloadOrRetry(time.Second)
	}
}

// Resync rebuilds the routing table, for when changes may have been missed
// (another node's, while the channel that carries them was down).
func (p *Proxy) Resync() { p.reloadOrRetry(time.Second) }

func (p *Proxy) reloadOrRetry(backoff time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	err := p.Reload(ctx)
	if err == nil {
		return
	}
	p.reloading.Lock()
	defer p.reloading.Unlock()
	if p.closed || p.retry != nil {
		return
	}
	p.cfg.Logger.Error("routing table reload failed; serving the previous one until a retry succeeds", "retry_in", backoff, "error", err)
	p.retry = time.AfterFunc(backoff, func() {
		p.reloading.Lock()
		p.retry = nil
		p.reloading.Unlock()
		p.reloadOrRetry(min(2*backoff, 30*time.Second))
	})
}

// Close stops reload retries and closes idle upstream connections.
func (p *Proxy) Close() {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	p.closed = true
	if p.retry != nil {
		p.retry.Stop()
		p.retry = nil
	}
	for _, u := range p.upstreams {
		u.retire(nil)
	}
}

// Reload rebuilds the routing table from the store. Calls made while a
// rebuild runs share the next one: a rebuild that began reading after a
// call was made has read everything committed before it.
func (p *Proxy) Reload(ctx context.Context) error {
	asked := p.requested.Add(1)
	p.reloading.Lock()
	defer p.reloading.Unlock()
	if p.built >= asked {
		return nil
	}
	covers := p.requested.Load()
	if err := p.reload(ctx); err != nil {
		return err
	}
	p.built = covers
	return nil
}

func (p *Proxy) reload(ctx context.Context) error {
	services, err := listAll(func(pg keygate.Page) ([]*keygate.Service, string, error) { return p.store.ListServices(ctx, pg) })
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	routes, err := listAll(func(pg keygate.Page) ([]*keygate.Route, string, error) {
		return p.store.ListRoutes(ctx, keygate.RouteFilter{}, pg)
	})
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	storedPlans, err := listAll(func(pg keygate.Page) ([]*keygate.Plan, string, error) { return p.store.ListPlans(ctx, pg) })
	if err != nil {
		return fmt.Errorf("list plans: %w", err)
	}
	plans := make(map[string]*plan, len(storedPlans))
	for _, sp := range storedPlans {
		plans[sp.ID] = compilePlan(sp)
	}
	upstreams := make(map[string]*upstream, len(services))
	for _, s := range services {
		if old := p.upstreams[s.ID]; old != nil && sameService(old.service, s) {
			upstreams[s.ID] = old // keep its warm connections
			continue
		}
		u, err := newUpstream(s, p.upstreams[s.ID], p.cfg.UpstreamRoots, p.cfg.Logger)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
		upstreams[s.ID] = u
	}

	built := make(map[string]*route, len(routes))
	all := make([]*route, 0, len(routes))
	for _, r := range routes {
		u := upstreams[r.Service.ID]
		if u == nil {
			continue // its service was deleted in between; the next change settles it
		}
		rt, err := p.compile(ctx, r, u)
		if err != nil {
			return err
		}
		built[r.ID] = rt
		all = append(all, rt)
	}
	p.table.Store(newTable(all, plans))
	for id, u := range upstreams {
		if p.upstreams[id] != u {
			u.start()
		}
	}
	for id, u := range p.upstreams {
		if upstreams[id] != u {
			u.retire(upstreams[id])
		}
	}
	p.upstreams, p.routes, p.plans = upstreams, built, plans
	p.publishUpstreams()
	p.anonymousRoutes, p.unresolvedRoutes = map[string]int{}, 0
	p.countAnonymous(all, 1)
	p.publishAnonymous()
	return nil
}

// compile makes r ready for the request path, on upstream u.
func (p *Proxy) compile(ctx context.Context, r *keygate.Route, u *upstream) (*route, error) {
	rt := &route{Route: r, upstream: u, metrics: p.routeMetrics(r, u)}
	// The kinds a route accepts, in a fixed order; the first one present
	// on a request decides. oauth2 comes first: it passes on a bearer
	// token that is not a JWT, which key_auth may then take as a key.
	if r.OAuth2 != nil {
		rt.auths = append(rt.auths, p.oauth2(r))
		rt.kinds = append(rt.kinds, credentialOAuth2)
	}
	if r.KeyAuth != nil {
		rt.auths = append(rt.auths, keyauth.New(*r.KeyAuth, p.verifier))
		rt.kinds = append(rt.kinds, credentialAPIKey)
	}
	if r.HMACAuth != nil {
		if p.cfg.HMAC == nil || p.cfg.Replay == nil {
			return nil, fmt.Errorf("route %s: hmac_auth, but the proxy has no HMAC credentials to check against", r.Name)
		}
		rt.auths = append(rt.auths, hmacauth.New(*r.HMACAuth, p.cfg.HMAC, p.cfg.Replay, p.cfg.Now))
		rt.kinds = append(rt.kinds, credentialHMAC)
	}
	if err := p.resolveAnonymous(ctx, rt); err != nil {
		return nil, err
	}
	// Compiled once here, so that a request evaluates without allocating.
	for m, src := range r.Permissions {
		q, err := permquery.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("route %s: permissions.%s: %w", r.Name, m, err)
		}
		if rt.perms == nil {
			rt.perms = map[string]*permquery.Query{}
		}
		rt.perms[m] = q
	}
	return rt, nil
}

// resolveAnonymous finds the consumer rt lets requests without a
// credential proceed as.
func (p *Proxy) resolveAnonymous(ctx context.Context, rt *route) error {
	rt.anonymous, rt.unresolved = nil, false
	ref := anonymousOf(rt.Route)
	if ref == "" {
		return nil
	}
	c, err := p.store.FindConsumer(ctx, ref)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return fmt.Errorf("route %s: anonymous consumer: %w", rt.Name, err)
	}
	if c == nil {
		// Refusing is the safe reading of a dangling anonymous consumer.
		p.cfg.Logger.Warn("anonymous consumer not found; requests without a credential are refused", "route", rt.Name, "consumer", ref)
		rt.unresolved = true
	} else {
		rt.anonymous = c
	}
	return nil
}

// patch applies one change to the table: it reads the changed row and
// replaces what was built from it.
func (p *Proxy) patch(ctx context.Context, c keygate.Change) error {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	switch c.Kind {
	case keygate.RouteChanged:
		return p.patchRoute(ctx, c.ID)
	case keygate.ServiceChanged:
		return p.patchService(ctx, c.ID)
	case keygate.PlanChanged:
		return p.patchPlan(ctx, c.ID)
	case keygate.ConsumerChanged:
		return p.patchAnonymous(ctx, c.ID)
	}
	return nil
}

func (p *Proxy) patchRoute(ctx context.Context, id string) error {
	r, err := p.store.FindRoute(ctx, id)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return err
	}
	old := p.routes[id]
	if r == nil && old == nil || r != nil && old != nil && reflect.DeepEqual(r, old.Route) {
		return nil // already in (this node's own change, replayed from the change log)
	}
	var added []*route
	if r != nil {
		u, err := p.upstream(ctx, r.Service.ID)
		if err != nil {
			return err
		}
		if u != nil { // else its service was deleted in between: so is the route
			rt, err := p.compile(ctx, r, u)
			if err != nil {
				return err
			}
			added = append(added, rt)
		}
	}
	var gone []*route
	if old != nil {
		gone = append(gone, old)
	}
	p.swap(gone, added, p.plans)
	return nil
}

// upstream returns the service's upstream, reading the service when this
// node has not seen it yet (another node's change on its way); nil: there
// is no such service.
func (p *Proxy) upstream(ctx context.Context, serviceID string) (*upstream, error) {
	if u := p.upstreams[serviceID]; u != nil {
		return u, nil
	}
	s, err := p.store.FindService(ctx, serviceID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	u, err := newUpstream(s, nil, p.cfg.UpstreamRoots, p.cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", s.Name, err)
	}
	u.start()
	p.upstreams[serviceID] = u
	p.publishUpstreams()
	return u, nil
}

// patchService replaces the service's upstream and moves its routes onto
// the new one; a deleted service takes its routes out of the table (the
// store deleted them with it).
func (p *Proxy) patchService(ctx context.Context, id string) error {
	s, err := p.store.FindService(ctx, id)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return err
	}
	old := p.upstreams[id]
	if s != nil && old != nil && sameService(old.service, s) {
		return nil
	}
	var u *upstream
	if s != nil {
		if u, err = newUpstream(s, old, p.cfg.UpstreamRoots, p.cfg.Logger); err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
	}
	var gone, added []*route
	if old != nil {
		for _, rt := range p.routes {
			if rt.upstream == old {
				gone = append(gone, rt)
				if u != nil {
					moved := *rt
					moved.upstream = u
					added = append(added, &moved)
				}
			}
		}
	}
	if u == nil {
		delete(p.upstreams, id)
	} else {
		p.upstreams[id] = u
	}
	p.swap(gone, added, p.plans)
	if u != nil {
		u.start()
	}
	p.publishUpstreams()
	if old != nil {
		old.retire(u) // requests in flight finish on its targets
	}
	return nil
}

func (p *Proxy) patchPlan(ctx context.Context, id string) error {
	sp, err := p.store.FindPlan(ctx, id)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return err
	}
	plans := maps.Clone(p.plans)
	if sp == nil {
		delete(plans, id)
	} else {
		plans[id] = compilePlan(sp)
	}
	p.swap(nil, nil, plans)
	return nil
}

// patchAnonymous finds again the anonymous consumer of the routes that use
// consumer id as theirs, or name one that was not found.
func (p *Proxy) patchAnonymous(ctx context.Context, id string) error {
	var gone, added []*route
	for _, rt := range p.routes {
		if rt.unresolved || rt.anonymous != nil && rt.anonymous.ID == id {
			again := *rt
			if err := p.resolveAnonymous(ctx, &again); err != nil {
				return err
			}
			gone, added = append(gone, rt), append(added, &again)
		}
	}
	p.swap(gone, added, p.plans)
	return nil
}

// swap publishes the table without gone and with added and plans, and
// keeps what it was built from in step.
func (p *Proxy) swap(gone, added []*route, plans map[string]*plan) {
	p.table.Store(p.table.Load().with(gone, added, plans))
	p.plans = plans
	for _, rt := range gone {
		delete(p.routes, rt.ID)
	}
	for _, rt := range added {
		p.routes[rt.ID] = rt
	}
	p.countAnonymous(gone, -1)
	p.countAnonymous(added, 1)
}

// countAnonymous adds by to the anonymous-consumer counts of routes and publishes
// the consumer ids when their set changed.
func (p *Proxy) countAnonymous(routes []*route, by int) {
	changed := false
	for _, rt := range routes {
		switch {
		case rt.anonymous != nil:
			id := rt.anonymous.ID
			was := p.anonymousRoutes[id] > 0
			if p.anonymousRoutes[id] += by; p.anonymousRoutes[id] <= 0 {
				delete(p.anonymousRoutes, id)
			}
			changed = changed || was != (p.anonymousRoutes[id] > 0)
		case rt.unresolved:
			p.unresolvedRoutes += by
		}
	}
	p.unresolved.Store(p.unresolvedRoutes > 0)
	if changed {
		p.publishAnonymous()
	}
}

func (p *Proxy) publishAnonymous() {
	ids := make(map[string]bool, len(p.anonymousRoutes))
	for id := range p.anonymousRoutes {
		ids[id] = true
	}
	p.anonymous.Store(&ids)
}

// publishUpstreams makes the upstreams readable without the lock.
func (p *Proxy) publishUpstreams() {
	m := maps.Clone(p.upstreams)
	p.services.Store(&m)
}

// sameService says whether an upstream built for a can serve b: warm
// connections are kept only then.
func sameService(a, b *keygate.Service) bool { return reflect.DeepEqual(a, b) }

// anonymousOf is the consumer a route lets requests without a credential
// proceed as: key_auth's, or else hmac_auth's.
func anonymousOf(r *keygate.Route) string {
	if r.KeyAuth != nil && r.KeyAuth.Anonymous != "" {
		return r.KeyAuth.Anonymous
	}
	if r.HMACAuth != nil {
		return r.HMACAuth.Anonymous
	}
	return ""
}

func listAll[T any](list func(keygate.Page) ([]T, string, error)) ([]T, error) {
	var all []T
	page := keygate.Page{Limit: keygate.MaxPageSize}
	for {
		items, next, err := list(page)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		page.After = next
	}
}
