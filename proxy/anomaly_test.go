package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/anomaly"
	"github.com/keygate/keygate/auth"
	"github.com/valyala/fasthttp"
)

// watcher is an Anomalies that records observations and blocks one address.
type watcher struct {
	seen    []anomaly.Observation
	blocked netip.Addr
	until   time.Time
}

func (w *watcher) Observe(o anomaly.Observation) { w.seen = append(w.seen, o) }
func (w *watcher) Blocked(ip netip.Addr) (time.Time, bool) {
	return w.until, ip == w.blocked
}

// answering is an Authenticator with a fixed answer.
type answering auth.Result

func (a answering) Authenticate(context.Context, *fasthttp.Request, keygate.Target) (auth.Result, error) {
	return auth.Result(a), nil
}
func (a answering) Challenge() string { return "Key" }

func TestAnomalyHook(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &watcher{blocked: netip.MustParseAddr("203.0.113.9"), until: now.Add(90 * time.Second)}
	p := New(nil, nil, Config{Anomalies: w, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	consumer := &keygate.Consumer{ID: "c1"}
	for _, tc := range []struct {
		name    string
		ip      string
		res     auth.Result
		status  int
		outcome anomaly.Outcome // 0: not observed
		want    anomaly.Observation
	}{
		{"granted", "10.1.1.1", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 200, anomaly.Granted,
			anomaly.Observation{Credential: "k1", Consumer: "c1"}},
		{"forbidden", "10.1.1.1", auth.Result{Verdict: auth.Forbidden, Consumer: consumer, CredentialRecord: "k1"}, 403, anomaly.Forbidden,
			anomaly.Observation{Credential: "k1", Consumer: "c1"}},
		{"unknown key", "10.1.1.1", auth.Result{Verdict: auth.Unauthenticated, Reason: keygate.CodeNotFound, Presented: "kg_live_AbCdEf123456"}, 401, anomaly.Refused,
			anomaly.Observation{Presented: "kg_live_AbCdEf123456"}},
		{"revoked key", "10.1.1.1", auth.Result{Verdict: auth.Unauthenticated, Reason: keygate.CodeRevoked, Consumer: consumer, CredentialRecord: "k2"}, 401, anomaly.Revoked,
			anomaly.Observation{Credential: "k2", Consumer: "c1"}},
		{"expired key", "10.1.1.1", auth.Result{Verdict: auth.Unauthenticated, Reason: keygate.CodeExpired, Consumer: consumer, CredentialRecord: "k3"}, 401, anomaly.Expired,
			anomaly.Observation{Credential: "k3", Consumer: "c1"}},
		{"no credential", "10.1.1.1", auth.Result{Verdict: auth.Absent}, 401, 0, anomaly.Observation{}},
		{"blocked address, valid key", "203.0.113.9", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 429, 0, anomaly.Observation{}},
		{"another address during the block", "203.0.113.10", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 200, anomaly.Granted,
			anomaly.Observation{Credential: "k1", Consumer: "c1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.seen = nil
			rt := &route{Route: &keygate.Route{ID: "r1"}, upstream: &upstream{service: &keygate.Service{ID: "s1"}}, auths: []auth.Authenticator{answering(tc.res)}}
			x := exchange{ctx: &fasthttp.RequestCtx{}, client: netip.MustParseAddr(tc.ip), route: rt}
			ok := p.authenticate(&x)
			status := x.ctx.Response.StatusCode()
			if ok != (tc.status == 200) || status != tc.status {
				t.Fatalf("authenticate %v, status %d; want %d", ok, status, tc.status)
			}
			if tc.status == 429 {
				if got := string(x.ctx.Response.Header.Peek("Retry-After")); got != "90" {
					t.Errorf("Retry-After %q, want 90", got)
				}
			}
			if tc.outcome == 0 {
				if len(w.seen) != 0 {
					t.Errorf("observed %+v", w.seen)
				}
				return
			}
			want := tc.want
			want.Outcome, want.IP, want.Route = tc.outcome, x.client, "r1"
			if len(w.seen) != 1 || w.seen[0] != want {
				t.Errorf("observed %+v, want %+v", w.seen, want)
			}
		})
	}
}
