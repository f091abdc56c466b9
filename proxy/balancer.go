package proxy

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// upstream forwards to one service: it spreads requests over the service's
// targets by weight, skipping unhealthy ones. It is rebuilt when the
// service changes; the targets it shares with the previous build keep
// their pools and health, and requests in flight finish on the targets
// they started on.
type upstream struct {
	service *keygate.Service
	targets []*target // in the service's order
	weights []int     // the service's weights, by target
	check   *keygate.HealthCheck
	logger  *slog.Logger

	// order is the current smooth weighted round-robin sequence of target
	// indexes; next counts picks. Both are read without a lock.
	order atomic.Pointer[[]uint8]
	next  atomic.Uint64

	// mu guards the ramp and rebuilding order.
	mu      sync.Mutex
	ramp    *ramp // nil: weights are reached
	closed  bool
	timers  []*time.Timer
	stopped chan struct{} // closed by retire: stops the prober
	after   func(time.Duration, func()) *time.Timer
}

// Gradual weight changes: a target that stays in the set while its weight
// changes moves from its old weight to its new one in rampSteps equal steps
// over rampDuration. Targets that enter the set get their weight at once,
// and targets that leave it get no new requests at once.
const (
	rampDuration = 10 * time.Second
	rampSteps    = 10
)

// ramp is a weight change on its way: weights are from + (to-from)*step/rampSteps.
type ramp struct {
	from []int
	step int
}

// afterFunc runs the ramp's steps and brings back targets without a probe;
// tests replace it to run them when they choose.
var afterFunc = time.AfterFunc

// maxOrder bounds the round-robin sequence: larger weight sums are scaled
// down to it, which keeps their ratios to within a few tenths of a percent.
const maxOrder = 4096

// newUpstream builds the upstream of s, reusing prev's targets (pools and
// health) where the URL and connection settings are unchanged, and ramping
// from prev's weights for targets whose weight changed. prev may be nil.
func newUpstream(s *keygate.Service, prev *upstream, roots *x509.CertPool, logger *slog.Logger) (*upstream, error) {
	targets := s.Targets
	if len(targets) == 0 { // a service stored before targets existed
		targets = []keygate.UpstreamTarget{{URL: s.URL, Weight: keygate.DefaultWeight}}
	}
	if len(targets) > keygate.MaxTargets {
		return nil, fmt.Errorf("more than %d targets", keygate.MaxTargets)
	}
	u := &upstream{service: s, check: s.HealthCheck, logger: logger, stopped: make(chan struct{}), after: afterFunc}
	var previous map[string]*target
	var prevWeight map[string]int
	if prev != nil {
		previous, prevWeight = make(map[string]*target, len(prev.targets)), make(map[string]int, len(prev.targets))
		current := prev.currentWeights()
		for i, t := range prev.targets {
			previous[t.key] = t
			prevWeight[t.raw] = current[i]
		}
	}
	from, ramping := make([]int, len(targets)), false
	for i, ut := range targets {
		t := previous[targetKey(s, ut.URL)]
		if t == nil {
			var err error
			if t, err = newTarget(s, ut.URL, roots); err != nil {
				return nil, fmt.Errorf("targets[%d]: %w", i, err)
			}
		}
		u.targets = append(u.targets, t)
		u.weights = append(u.weights, ut.Weight)
		from[i] = ut.Weight
		if w, ok := prevWeight[t.raw]; ok && w != ut.Weight {
			from[i], ramping = w, true
		}
	}
	if ramping {
		u.ramp = &ramp{from: from}
	}
	u.rebuildLocked() // not shared yet
	return u, nil
}

// start makes u the owner of its targets (their health changes rebuild
// u's order) and starts the ramp and the prober, once u serves.
func (u *upstream) start() {
	for _, t := range u.targets {
		t.health.owner.Store(u)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rebuildLocked() // a target's health may have changed since newUpstream
	if u.ramp != nil {
		u.schedule(rampDuration/rampSteps, u.stepRamp)
	}
	if u.check != nil && u.check.Path != "" {
		go u.probeEvery(keygate.Duration(u.check.Interval))
	}
}

// schedule runs f after d unless u is retired first; u.mu is held.
func (u *upstream) schedule(d time.Duration, f func()) {
	if !u.closed {
		u.timers = append(u.timers, u.after(d, f))
	}
}

// retire stops u's timers and prober and closes the idle connections of
// its targets that next does not keep. next may be nil.
func (u *upstream) retire(next *upstream) {
	u.mu.Lock()
	if !u.closed {
		u.closed = true
		close(u.stopped)
		for _, t := range u.timers {
			t.Stop()
		}
	}
	u.mu.Unlock()
	for _, t := range u.targets {
		if next == nil || !next.has(t) {
			t.close()
		}
	}
}

func (u *upstream) has(t *target) bool {
	for _, o := range u.targets {
		if o == t {
			return true
		}
	}
	return false
}

func (u *upstream) stepRamp() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ramp == nil || u.closed {
		return
	}
	if u.ramp.step++; u.ramp.step >= rampSteps {
		u.ramp = nil
	} else {
		u.schedule(rampDuration/rampSteps, u.stepRamp)
	}
	u.rebuildLocked()
}

// currentWeights are the weights traffic is spread by now, ramp included.
func (u *upstream) currentWeights() []int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.currentWeightsLocked()
}

func (u *upstream) currentWeightsLocked() []int {
	w := make([]int, len(u.weights))
	for i, to := range u.weights {
		w[i] = to
		if u.ramp != nil {
			from := u.ramp.from[i]
			w[i] = from + (to-from)*u.ramp.step/rampSteps
		}
	}
	return w
}

// rebuild recomputes the order after a health change.
func (u *upstream) rebuild() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rebuildLocked()
}

// rebuildLocked publishes the order of the healthy targets by their
// current weights. When no target with weight is healthy, all of them are
// used (as nginx and Envoy's panic threshold do): a wrong health check must
// not take a service down, and an upstream that is really down answers
// 502 or 504 as it would without one.
func (u *upstream) rebuildLocked() {
	weights := u.currentWeightsLocked()
	healthy := make([]int, len(weights))
	any := false
	for i, w := range weights {
		if w > 0 && (u.check == nil || !u.targets[i].health.down.Load()) {
			healthy[i], any = w, true
		}
	}
	if any {
		weights = healthy
	}
	order := smoothOrder(weights)
	u.order.Store(&order)
}

// smoothOrder is nginx's smooth weighted round robin written out once: a
// sequence in which each index appears in proportion to its weight, spread
// evenly rather than in runs.
func smoothOrder(weights []int) []uint8 {
	total, g := 0, 0
	for _, w := range weights {
		if w > 0 {
			total, g = total+w, gcd(g, w)
		}
	}
	if total == 0 {
		return nil
	}
	scaled := make([]int, len(weights))
	sum := 0
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		scaled[i] = w / g
		if total/g > maxOrder {
			scaled[i] = max(1, w*maxOrder/total)
		}
		sum += scaled[i]
	}
	current := make([]int, len(weights))
	order := make([]uint8, sum)
	for k := range order {
		best := -1
		for i, w := range scaled {
			if w == 0 {
				continue
			}
			current[i] += w
			if best < 0 || current[i] > current[best] {
				best = i
			}
		}
		current[best] -= sum
		order[k] = uint8(best)
	}
	return order
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pick returns the next target in the order that is not in tried (a bit
// per target index), or -1 when every target in the order was tried.
func (u *upstream) pick(tried uint64) int {
	order := *u.order.Load()
	n := uint64(len(order))
	if n == 0 {
		return -1
	}
	start := u.next.Add(1)
	for k := range n {
		if i := order[(start+k)%n]; tried&(1<<i) == 0 {
			return int(i)
		}
	}
	return -1
}

// health is one target's state as this node sees it.
type health struct {
	down  atomic.Bool
	fails atomic.Int32 // in a row: proxied connection failures and failed probes
	// passes counts probes passed in a row; mu orders state changes.
	mu     sync.Mutex
	passes int
	// owner is the upstream whose order a change of state rebuilds.
	owner atomic.Pointer[upstream]
}

// Health states, as GET /v1/services/{name}/targets and /metrics show them.
const (
	healthHealthy   = "healthy"
	healthUnhealthy = "unhealthy"
	healthUnchecked = "unchecked"
)

// report tells u's health check how a proxied request to t went: whether
// the target could be connected to and answered in time. Without a health
// check it does nothing.
func (u *upstream) report(t *target, ok bool) {
	if u.check == nil {
		return
	}
	if ok {
		if t.health.fails.Load() != 0 {
			t.health.fails.Store(0)
		}
		return
	}
	u.failed(t)
}

// failed counts a failure of t and takes it out of rotation at the
// threshold. Without an active probe it comes back after the interval,
// one failure away from leaving again. The thresholds are those of the
// upstream t now serves in, which a request that began before a change
// may not be.
func (u *upstream) failed(t *target) {
	h := &t.health
	owner := h.owner.Load()
	if owner == nil {
		owner = u
	}
	check := owner.check
	if check == nil || h.fails.Add(1) < int32(check.UnhealthyThreshold) || h.down.Load() {
		return
	}
	h.mu.Lock()
	h.passes = 0
	changed := !h.down.Swap(true)
	h.mu.Unlock()
	if !changed {
		return
	}
	owner.logger.Warn("upstream target unhealthy", "service", owner.service.Name, "target", t.raw)
	owner.rebuild()
	if check.Path == "" {
		owner.mu.Lock()
		owner.schedule(keygate.Duration(check.Interval), func() { owner.revive(t, check.UnhealthyThreshold-1) })
		owner.mu.Unlock()
	}
}

// revive puts t back in rotation with fails failures counted.
func (u *upstream) revive(t *target, fails int) {
	h := &t.health
	h.mu.Lock()
	h.passes = 0
	h.fails.Store(int32(fails))
	changed := h.down.Swap(false)
	h.mu.Unlock()
	if changed {
		u.logger.Info("upstream target healthy again", "service", u.service.Name, "target", t.raw)
		u.rebuild()
	}
}

// probed records an active probe's outcome.
func (u *upstream) probed(t *target, ok bool) {
	if !ok {
		t.health.mu.Lock()
		t.health.passes = 0
		t.health.mu.Unlock()
		u.failed(t)
		return
	}
	h := &t.health
	h.mu.Lock()
	h.passes++
	comeBack := h.down.Load() && h.passes >= u.check.HealthyThreshold
	h.mu.Unlock()
	if comeBack {
		u.revive(t, 0)
	} else if !h.down.Load() {
		h.fails.Store(0)
	}
}

// probeEvery probes every target each interval until u is retired.
func (u *upstream) probeEvery(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-u.stopped:
			return
		case <-tick.C:
			u.probeAll(context.Background())
		}
	}
}

// probeAll sends the health check's GET to every target at once and
// records the outcomes; 2xx and 3xx pass.
func (u *upstream) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range u.targets {
		wg.Go(func() { u.probed(t, u.probe(ctx, t)) })
	}
	wg.Wait()
}

func (u *upstream) probe(ctx context.Context, t *target) bool {
	ctx, cancel := context.WithTimeout(ctx, keygate.Duration(u.check.Timeout))
	defer cancel()
	probeURL := *t.url
	probeURL.Path, probeURL.RawPath = u.check.Path, ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, probeURL.String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "keygate-health-check")
	res, err := t.transport.RoundTrip(req) // no redirects followed: a 3xx passes
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // so the connection is kept
	res.Body.Close()
	return res.StatusCode >= 200 && res.StatusCode < 400
}

// targetHealth is t's state for people: unchecked without a health check.
func (u *upstream) targetHealth(t *target) string {
	switch {
	case u.check == nil:
		return healthUnchecked
	case t.health.down.Load():
		return healthUnhealthy
	}
	return healthHealthy
}

// TargetState is one target's health as this node sees it.
type TargetState struct {
	ServiceID, Service string
	URL                string
	Health             string // healthy, unhealthy or unchecked
}

// TargetHealth returns the health of the targets of the service with id
// serviceID by URL; empty when this node does not know the service.
func (p *Proxy) TargetHealth(serviceID string) map[string]string {
	u := (*p.services.Load())[serviceID]
	if u == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(u.targets))
	for _, t := range u.targets {
		out[t.raw] = u.targetHealth(t)
	}
	return out
}

// TargetStates returns the health of every target of every service, for
// metrics: at most keygate.MaxTargets per service.
func (p *Proxy) TargetStates() []TargetState {
	var out []TargetState
	for _, u := range *p.services.Load() {
		for _, t := range u.targets {
			out = append(out, TargetState{ServiceID: u.service.ID, Service: u.service.Name, URL: t.raw, Health: u.targetHealth(t)})
		}
	}
	return out
}
