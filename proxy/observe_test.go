package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/metrics"
	"github.com/valyala/fasthttp"
)

// failing is an Authenticator that cannot decide (a store outage).
type failing struct{}

func (failing) Authenticate(_ context.Context, _ *fasthttp.Request, _ keygate.Target) (auth.Result, error) {
	return auth.Result{}, errors.New("store down")
}
func (failing) Challenge() string { return "Key" }

func TestRequestMetricsAndAccessLog(t *testing.T) {
	m := metrics.New()
	var logged bytes.Buffer
	p := New(nil, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Requests:  RequestMetricsFunc(func(r, s string) RouteMetrics { return m.Route(r, s) }),
		AccessLog: slog.New(slog.NewJSONHandler(&logged, nil)), AccessLogSample: 1})
	consumer := &keygate.Consumer{ID: "c1", Username: "alice"}
	svc := &keygate.Service{ID: "s1", Name: "orders"}
	for _, tc := range []struct {
		name       string
		auth       auth.Authenticator
		status     int
		credential string
		outcome    string
	}{
		{"granted", answering{Verdict: auth.Granted, Consumer: consumer, CredentialID: "k1", CredentialRecord: "k1"}, 200, "api_key", "granted"},
		{"missing", answering{Verdict: auth.Absent}, 401, "none", "missing"},
		{"malformed", answering{Verdict: auth.Unauthenticated, Reason: keygate.CodeMalformed}, 401, "api_key", "malformed"},
		{"unknown", answering{Verdict: auth.Unauthenticated, Reason: keygate.CodeNotFound}, 401, "api_key", "unknown"},
		{"expired", answering{Verdict: auth.Unauthenticated, Reason: keygate.CodeExpired, Consumer: consumer, CredentialRecord: "k2"}, 401, "api_key", "expired"},
		{"revoked", answering{Verdict: auth.Unauthenticated, Reason: keygate.CodeRevoked, Consumer: consumer, CredentialRecord: "k3"}, 401, "api_key", "revoked"},
		{"bad signature", answering{Verdict: auth.Unauthenticated}, 401, "api_key", "invalid"},
		{"forbidden", answering{Verdict: auth.Forbidden, Consumer: consumer, CredentialRecord: "k1"}, 403, "api_key", "forbidden"},
		{"store down", failing{}, 503, "api_key", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logged.Reset()
			r := &keygate.Route{ID: "r1", Name: "orders-" + strings.ReplaceAll(tc.name, " ", "-")}
			u := &upstream{service: svc}
			rt := &route{Route: r, upstream: u, auths: []auth.Authenticator{tc.auth}, kinds: []string{credentialAPIKey}, metrics: p.routeMetrics(r, u)}
			x := exchange{ctx: &fasthttp.RequestCtx{}, client: netip.MustParseAddr("10.0.0.1"), route: rt, observed: true, start: time.Now(), id: "req-1", path: "/orders"}
			if p.authenticate(&x) {
				x.ctx.Response.SetStatusCode(200)
				x.upstream = time.Millisecond
			}
			p.finish(&x)
			if got := x.ctx.Response.StatusCode(); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
			class := map[int]string{200: "2xx", 401: "4xx", 403: "4xx", 503: "5xx"}[tc.status]
			if n := gathered(t, m, "keygate_requests_total", r.Name, "orders", class, tc.credential); n != 1 {
				t.Errorf("requests{%s,%s} = %v, want 1", class, tc.credential, n)
			}
			if n := gathered(t, m, "keygate_auth_outcomes_total", r.Name, tc.outcome); n != 1 {
				t.Errorf("outcome %s = %v, want 1", tc.outcome, n)
			}
			var line map[string]any
			if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
				t.Fatalf("access log %q: %v", logged.String(), err)
			}
			if line["route"] != r.Name || line["service"] != "orders" || line["status"] != float64(tc.status) || line["auth"] != tc.outcome ||
				line["request_id"] != "req-1" || line["client_ip"] != "10.0.0.1" {
				t.Errorf("access log line %v", line)
			}
		})
	}
}

// gathered is the value of name's series with all of labels' values, as
// a scrape sees it.
func gathered(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			values := map[string]bool{}
			for _, l := range s.GetLabel() {
				values[l.GetValue()] = true
			}
			for _, l := range labels {
				if !values[l] {
					continue next
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// The request path's metrics allocate nothing: the route's series are
// resolved when the table is built.
func TestRequestMetricsAllocateNothing(t *testing.T) {
	p, x := finishFixture()
	if n := testing.AllocsPerRun(1000, func() { p.finish(x) }); n != 0 {
		t.Errorf("finish allocates %v times per request", n)
	}
}

func finishFixture() (*Proxy, *exchange) {
	m := metrics.New()
	p := New(nil, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Requests: RequestMetricsFunc(func(r, s string) RouteMetrics { return m.Route(r, s) })})
	r, u := &keygate.Route{ID: "r1", Name: "orders"}, &upstream{service: &keygate.Service{ID: "s1", Name: "orders"}}
	rt := &route{Route: r, upstream: u, metrics: p.routeMetrics(r, u)}
	x := &exchange{ctx: &fasthttp.RequestCtx{}, route: rt, observed: true, start: time.Now(), credential: credentialAPIKey,
		outcome: outcomeGranted, upstream: time.Millisecond}
	x.ctx.Response.SetStatusCode(200)
	return p, x
}

// BenchmarkFinish is what the metrics cost a request: its counts and its
// two latency observations.
func BenchmarkFinish(b *testing.B) {
	p, x := finishFixture()
	b.ReportAllocs()
	for b.Loop() {
		p.finish(x)
	}
}

// BenchmarkAccessLog is what a logged request costs on top (slog's JSON
// handler into a discarding writer; the binary's writer queues the line
// for a goroutine of its own).
func BenchmarkAccessLog(b *testing.B) {
	p, x := finishFixture()
	p.cfg.AccessLog, p.cfg.AccessLogSample = slog.New(slog.NewJSONHandler(io.Discard, nil)), 1
	x.id, x.path, x.client = "0123456789abcdef", "/orders/7", netip.MustParseAddr("10.0.0.1")
	x.who = auth.Result{Consumer: &keygate.Consumer{ID: "c1", Username: "alice"}, CredentialRecord: "k1"}
	b.ReportAllocs()
	for b.Loop() {
		p.finish(x)
	}
}
