package proxy

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// The order spreads each target's turns evenly (nginx's smooth weighted
// round robin), in proportion to the weights, leaving out weight 0.
func TestSmoothOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		want    []uint8 // nil: check the proportions only
	}{
		{"nginx's example", []int{5, 1, 1}, []uint8{0, 0, 1, 0, 2, 0, 0}},
		{"common factor removed", []int{300, 200, 100}, []uint8{0, 1, 0, 2, 1, 0}},
		{"a drained target gets nothing", []int{100, 0}, []uint8{0}},
		{"equal weights alternate", []int{100, 100}, []uint8{0, 1}},
		{"large coprime sums are scaled", []int{1000, 999, 997}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := smoothOrder(tc.weights)
			if tc.want != nil {
				if !slices.Equal(got, tc.want) {
					t.Fatalf("order %v, want %v", got, tc.want)
				}
				return
			}
			if len(got) > maxOrder {
				t.Fatalf("order of %d entries, more than %d", len(got), maxOrder)
			}
			total := 0
			for _, w := range tc.weights {
				total += w
			}
			for i, w := range tc.weights {
				share := float64(countOf(got, uint8(i))) / float64(len(got))
				if want := float64(w) / float64(total); share < want-0.005 || share > want+0.005 {
					t.Errorf("target %d: share %.4f, want %.4f", i, share, want)
				}
			}
		})
	}
}

func countOf(order []uint8, i uint8) int {
	n := 0
	for _, v := range order {
		if v == i {
			n++
		}
	}
	return n
}

// gatewayFixture is a proxy on a real store, serving on 127.0.0.1, with
// one service whose targets the test sets and a route to it without
// authentication.
type gatewayFixture struct {
	p       *Proxy
	store   *listCounter
	url     string // the gateway's
	service string // id
	client  *http.Client
}

func newGateway(t *testing.T, targets []keygate.UpstreamTarget, edit func(*keygate.Service)) *gatewayFixture {
	t.Helper()
	ctx := context.Background()
	p, store := newStoreProxy(t)
	s := keygate.NewService()
	s.Name, s.Targets = "orders", targets
	if edit != nil {
		edit(s)
	}
	check(t, store.CreateService(ctx, s))
	r := keygate.NewRoute()
	r.Name, r.Service.ID, r.Paths = "all", s.ID, []string{"/"}
	check(t, store.CreateRoute(ctx, r))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(p, p.cfg.Logger)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return &gatewayFixture{p: p, store: store, url: "http://" + ln.Addr().String(), service: s.ID,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

// call sends method to the gateway and returns the status and body.
func (g *gatewayFixture) call(t testing.TB, method string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader("{}")), 2
	}
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (g *gatewayFixture) setTargets(t *testing.T, targets []keygate.UpstreamTarget) {
	t.Helper()
	_, err := g.store.UpdateService(context.Background(), g.service, func(s *keygate.Service) error {
		s.Targets, s.URL = targets, ""
		return nil
	})
	check(t, err)
}

func (g *gatewayFixture) upstream() *upstream { return (*g.p.services.Load())[g.service] }

// named is an upstream that answers with its name and counts requests.
type named struct {
	*httptest.Server
	hits atomic.Int64
}

func newNamed(t *testing.T, name string) *named {
	t.Helper()
	n := &named{}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		n.hits.Add(1)
		io.WriteString(w, name)
	}))
	t.Cleanup(n.Close)
	return n
}

// refusing is the URL of a port nothing listens on: connections fail at once.
func refusing(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// hangingUp accepts connections and closes them without an answer,
// counting them: a target that fails after the request was sent.
func hangingUp(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Read(make([]byte, 4096))
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String(), &accepted
}

func TestRequestsSpreadByWeight(t *testing.T) {
	a, b, c := newNamed(t, "a"), newNamed(t, "b"), newNamed(t, "c")
	g := newGateway(t, []keygate.UpstreamTarget{{URL: a.URL, Weight: 300}, {URL: b.URL, Weight: 200}, {URL: c.URL, Weight: 100}}, nil)
	for range 600 {
		if status, _ := g.call(t, http.MethodGet); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if got := []int64{a.hits.Load(), b.hits.Load(), c.hits.Load()}; !slices.Equal(got, []int64{300, 200, 100}) {
		t.Errorf("hits %v, want [300 200 100]", got)
	}
}

// An idempotent request whose target could not be reached goes to another
// target; a POST never does; retries 0 tries one target only.
func TestRetries(t *testing.T) {
	good := newNamed(t, "good")
	for _, tc := range []struct {
		name     string
		method   string
		retries  int
		hangUp   bool // the bad target accepts and hangs up; else it refuses
		status   int
		attempts int64 // on the hanging-up target, when used
	}{
		{"GET on a refusing target is retried", http.MethodGet, 5, false, 200, 0},
		{"GET on a target that hangs up is retried", http.MethodGet, 5, true, 200, 1},
		{"DELETE is retried", http.MethodDelete, 5, true, 200, 1},
		{"POST is never retried", http.MethodPost, 5, true, 502, 1},
		{"retries 0 tries one target", http.MethodGet, 0, false, 502, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, accepted := refusing(t), &atomic.Int64{}
			if tc.hangUp {
				bad, accepted = hangingUp(t)
			}
			// The bad target first in the order, so the first attempt goes there.
			g := newGateway(t, []keygate.UpstreamTarget{{URL: bad, Weight: 100}, {URL: good.URL, Weight: 100}},
				func(s *keygate.Service) { s.Retries = tc.retries })
			g.upstream().next.Store(uint64(len(*g.upstream().order.Load()) - 1))
			status, body := g.call(t, tc.method)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			if tc.hangUp {
				// fasthttp's client resends once on a connection closed
				// before any answer; that is the same target, not a retry.
				if got := accepted.Load(); got < tc.attempts || got > 2*tc.attempts {
					t.Errorf("bad target accepted %d connections, want %d", got, tc.attempts)
				}
			}
		})
	}
}

// fakeTimers collects what upstreams schedule, for the test to run.
type fakeTimers struct {
	mu  sync.Mutex
	fns []func()
}

func useFakeTimers(t *testing.T) *fakeTimers {
	f := &fakeTimers{}
	afterFunc = func(_ time.Duration, fn func()) *time.Timer {
		f.mu.Lock()
		f.fns = append(f.fns, fn)
		f.mu.Unlock()
		return time.NewTimer(time.Hour) // stopped by retire
	}
	t.Cleanup(func() { afterFunc = time.AfterFunc })
	return f
}

// runAll runs what was scheduled so far (not what that schedules).
func (f *fakeTimers) runAll() {
	f.mu.Lock()
	fns := f.fns
	f.fns = nil
	f.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Passive check: a target whose connections fail leaves the rotation after
// unhealthy_threshold failures; without a probe it is tried again after
// the interval.
func TestPassiveHealth(t *testing.T) {
	timers := useFakeTimers(t)
	good := newNamed(t, "good")
	bad := refusing(t)
	g := newGateway(t, []keygate.UpstreamTarget{{URL: bad, Weight: 100}, {URL: good.URL, Weight: 100}}, func(s *keygate.Service) {
		s.HealthCheck = keygate.NewHealthCheck()
		s.HealthCheck.UnhealthyThreshold = 2
	})
	wantHealth(t, g, map[string]string{bad: "healthy", good.URL: "healthy"})
	for range 4 { // two reach the bad target, and are retried on the good one
		if status, _ := g.call(t, http.MethodGet); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	wantHealth(t, g, map[string]string{bad: "unhealthy", good.URL: "healthy"})
	if order := *g.upstream().order.Load(); !slices.Equal(order, []uint8{1}) {
		t.Fatalf("order %v, want only the good target", order)
	}
	timers.runAll() // the interval passed
	wantHealth(t, g, map[string]string{bad: "healthy", good.URL: "healthy"})
	g.upstream().next.Store(uint64(len(*g.upstream().order.Load()) - 1))
	g.call(t, http.MethodGet) // one failure takes it out again
	wantHealth(t, g, map[string]string{bad: "unhealthy", good.URL: "healthy"})

	// Without a health check, health no longer decides.
	_, err := g.store.UpdateService(context.Background(), g.service, func(s *keygate.Service) error {
		s.HealthCheck = nil
		return nil
	})
	check(t, err)
	wantHealth(t, g, map[string]string{bad: "unchecked", good.URL: "unchecked"})
	if order := *g.upstream().order.Load(); !slices.Equal(order, []uint8{0, 1}) {
		t.Fatalf("order %v, want both targets", order)
	}
}

// Active check: probes take a failing target out after
// unhealthy_threshold failures and bring it back after healthy_threshold
// passes; 3xx passes.
func TestActiveHealth(t *testing.T) {
	var status atomic.Int64
	status.Store(500)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(status.Load()))
			return
		}
		io.WriteString(w, "flaky")
	}))
	t.Cleanup(flaky.Close)
	good := newNamed(t, "good")
	g := newGateway(t, []keygate.UpstreamTarget{{URL: flaky.URL, Weight: 100}, {URL: good.URL, Weight: 100}}, func(s *keygate.Service) {
		s.HealthCheck = &keygate.HealthCheck{Path: "/healthz", Interval: 3_600_000, Timeout: 1000, HealthyThreshold: 2, UnhealthyThreshold: 2}
	})
	u, ctx := g.upstream(), context.Background()
	for _, step := range []struct {
		status int
		want   string
	}{
		{500, "healthy"}, {500, "unhealthy"}, // two failures
		{302, "unhealthy"}, {200, "healthy"}, // two passes
		{500, "healthy"}, {200, "healthy"}, {500, "healthy"}, // failures not in a row
	} {
		status.Store(int64(step.status))
		u.probeAll(ctx)
		wantHealth(t, g, map[string]string{flaky.URL: step.want, good.URL: "healthy"})
	}
}

// When every target is unhealthy, requests go to all of them anyway.
func TestAllUnhealthyStillServed(t *testing.T) {
	a, b := newNamed(t, "a"), newNamed(t, "b")
	g := newGateway(t, []keygate.UpstreamTarget{{URL: a.URL, Weight: 100}, {URL: b.URL, Weight: 100}}, func(s *keygate.Service) {
		s.HealthCheck = &keygate.HealthCheck{Path: "/missing", Interval: 3_600_000, Timeout: 1000, HealthyThreshold: 1, UnhealthyThreshold: 1}
	})
	u := g.upstream()
	u.probeAll(context.Background()) // both answer 404
	wantHealth(t, g, map[string]string{a.URL: "unhealthy", b.URL: "unhealthy"})
	for range 4 {
		if status, _ := g.call(t, http.MethodGet); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if a.hits.Load() != 2 || b.hits.Load() != 2 {
		t.Errorf("hits %d and %d, want 2 and 2", a.hits.Load(), b.hits.Load())
	}
}

func wantHealth(t *testing.T, g *gatewayFixture, want map[string]string) {
	t.Helper()
	if got := g.p.TargetHealth(g.service); !maps.Equal(got, want) {
		t.Fatalf("health %v, want %v", got, want)
	}
}

// Replacing the target set sends new requests to the new set at once,
// while a request in flight finishes on its old target; a target kept in
// the set keeps its pools and health.
func TestReplaceTargets(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("slow") {
			close(started)
			<-release
		}
		io.WriteString(w, "blue")
	}))
	t.Cleanup(blue.Close)
	green := newNamed(t, "green")
	g := newGateway(t, []keygate.UpstreamTarget{{URL: blue.URL, Weight: 100, Color: "blue"}}, nil)

	slow := make(chan string, 1)
	go func() {
		res, err := g.client.Get(g.url + "/x?slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- string(body)
	}()
	<-started
	g.setTargets(t, []keygate.UpstreamTarget{{URL: green.URL, Weight: 100, Color: "green"}})
	for range 3 {
		if _, body := g.call(t, http.MethodGet); body != "green" {
			t.Fatalf("after the switch, answered by %q", body)
		}
	}
	close(release)
	if got := <-slow; got != "blue" {
		t.Fatalf("the request in flight got %q, want blue's answer", got)
	}

	before := g.upstream().targets[0]
	g.setTargets(t, []keygate.UpstreamTarget{{URL: green.URL, Weight: 200, Color: "green"}, {URL: blue.URL, Weight: 100}})
	if after := g.upstream().targets[0]; after != before {
		t.Error("a target kept in the set got new pools")
	}
}

// A weight change on targets that stay reaches the new weights in
// rampSteps steps; a target new to the set gets its weight at once.
func TestWeightChangeRamps(t *testing.T) {
	timers := useFakeTimers(t)
	a, b, c := newNamed(t, "a"), newNamed(t, "b"), newNamed(t, "c")
	g := newGateway(t, []keygate.UpstreamTarget{{URL: a.URL, Weight: 100}, {URL: b.URL, Weight: 0}}, nil)
	g.setTargets(t, []keygate.UpstreamTarget{{URL: a.URL, Weight: 0}, {URL: b.URL, Weight: 100}, {URL: c.URL, Weight: 50}})
	for step := 0; step <= rampSteps; step++ {
		want := []int{100 - 10*step, 10 * step, 50}
		if got := g.upstream().currentWeights(); !slices.Equal(got, want) {
			t.Fatalf("step %d: weights %v, want %v", step, got, want)
		}
		timers.runAll()
	}
	if g.upstream().ramp != nil {
		t.Error("the ramp did not end")
	}
}

// Picking a target is on every request: an atomic add and a load, with no
// lock and no allocation.
func BenchmarkPick(b *testing.B) {
	s := keygate.NewService()
	s.Name, s.Targets = "orders", []keygate.UpstreamTarget{{URL: "http://a:1", Weight: 50}, {URL: "http://b:1", Weight: 30}, {URL: "http://c:1", Weight: 20}}
	u, err := newUpstream(s, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if u.pick(0) < 0 {
				b.Fatal("no target")
			}
		}
	})
}
