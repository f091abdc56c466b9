package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/meter"
	"github.com/valyala/fasthttp"
)

// countsStore keeps what a meter flushes of verifications, with the
// gateway's VALID ones that usage records carry, as a store's analytics
// read them.
type countsStore struct{ counts []keygate.VerificationCount }

func (s *countsStore) AddUsage(_ context.Context, records []keygate.UsageRecord) error {
	for _, r := range records {
		if r.GatewayValid > 0 {
			s.counts = append(s.counts, keygate.VerificationCount{Hour: r.Minute.Truncate(time.Hour), KeyID: r.CredentialID,
				ConsumerID: r.ConsumerID, ServiceID: r.ServiceID, Source: keygate.SourceGateway, Code: keygate.CodeValid, Count: r.GatewayValid})
		}
	}
	return nil
}
func (s *countsStore) AddVerifications(_ context.Context, c []keygate.VerificationCount) error {
	s.counts = append(s.counts, c...)
	return nil
}

func TestVerificationAnalyticsHook(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	st := &countsStore{}
	m := meter.New(st, meter.Options{Logger: slog.New(slog.DiscardHandler)})
	p := New(nil, nil, Config{Meter: m, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	consumer := &keygate.Consumer{ID: "c1"}
	for _, tc := range []struct {
		name    string
		res     auth.Result
		refused int                // a later refusal by the gateway (429, 403, 503); 0: none
		as      keygate.VerifyCode // the code the limits or credits gave a 429
		want    *keygate.VerificationCount
	}{
		{"valid", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 0, "",
			&keygate.VerificationCount{KeyID: "k1", ConsumerID: "c1", Code: keygate.CodeValid}},
		{"rate limited", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 429, keygate.CodeRateLimited,
			&keygate.VerificationCount{KeyID: "k1", ConsumerID: "c1", Code: keygate.CodeRateLimited}},
		{"out of quota or credits", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 429, keygate.CodeUsageExceeded,
			&keygate.VerificationCount{KeyID: "k1", ConsumerID: "c1", Code: keygate.CodeUsageExceeded}},
		{"valid, refused by its groups", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 403, "",
			&keygate.VerificationCount{KeyID: "k1", ConsumerID: "c1", Code: keygate.CodeForbidden}},
		{"limiter down: not counted", auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialRecord: "k1"}, 503, "", nil},
		{"forbidden", auth.Result{Verdict: auth.Forbidden, Consumer: consumer, CredentialRecord: "k1", Message: "You cannot consume this service"}, 0, "",
			&keygate.VerificationCount{KeyID: "k1", ConsumerID: "c1", Code: keygate.CodeForbidden}},
		{"ip not allowed", auth.Result{Verdict: auth.Forbidden, Consumer: consumer, CredentialRecord: "k1", Message: "Your IP address is not allowed"}, 0, "",
			&keygate.VerificationCount{KeyID: "k1", ConsumerID: "c1", Code: keygate.CodeIPNotAllowed}},
		{"unknown key", auth.Result{Verdict: auth.Unauthenticated, Reason: keygate.CodeNotFound}, 0, "",
			&keygate.VerificationCount{Code: keygate.CodeNotFound}},
		{"revoked key", auth.Result{Verdict: auth.Unauthenticated, Reason: keygate.CodeRevoked, Consumer: consumer, CredentialRecord: "k2"}, 0, "",
			&keygate.VerificationCount{KeyID: "k2", ConsumerID: "c1", Code: keygate.CodeRevoked}},
		{"no credential: not counted", auth.Result{Verdict: auth.Absent}, 0, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.counts = nil
			rt := &route{Route: &keygate.Route{ID: "r1"}, upstream: &upstream{service: &keygate.Service{ID: "s1"}}, auths: []auth.Authenticator{answering(tc.res)}}
			x := exchange{ctx: &fasthttp.RequestCtx{}, client: netip.MustParseAddr("10.1.1.1"), route: rt}
			if p.authenticate(&x) && tc.refused != 0 {
				x.refusedAs = tc.as
				p.writeError(&x, tc.refused, "refused")
			}
			p.countVerification(&x)
			if err := m.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if len(st.counts) != 0 {
					t.Errorf("counted %+v", st.counts)
				}
				return
			}
			want := *tc.want
			want.Hour, want.ServiceID, want.Source, want.Count = now.Truncate(time.Hour), "s1", keygate.SourceGateway, 1
			if len(st.counts) != 1 || st.counts[0] != want {
				t.Errorf("counted %+v, want %+v", st.counts, want)
			}
		})
	}
}
