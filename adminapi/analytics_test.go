package adminapi_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/meter"
)

// Verify calls are counted by outcome, key, consumer and service, and the
// analytics endpoint sums them as asked.
func TestVerificationAnalytics(t *testing.T) {
	e := adminapitest.New(t)
	ctx := t.Context()
	m := meter.New(e.Store, meter.Options{Logger: slog.New(slog.DiscardHandler)})
	e.Server.Verifications = m
	adminapitest.CreateService(t, e.Client, "docs", "http://docs.internal", nil)
	adminapitest.CreateConsumer(t, e.Client, "acme")
	k := adminapitest.CreateKey(t, e.Client, "acme", keygate.KeyRequest{})
	gone := adminapitest.CreateKey(t, e.Client, "acme", keygate.KeyRequest{})
	if _, err := e.Client.RevokeKey(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.Client.Verify(ctx, keygate.VerifyRequest{Key: k.Key, Service: "docs"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{gone.Key, "kg_test_nope"} {
		if _, err := e.Client.Verify(ctx, keygate.VerifyRequest{Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	hour := adminapitest.Start.Truncate(time.Hour)
	to := adminapitest.Start.Add(time.Hour)

	rep, err := e.Client.VerificationAnalytics(ctx, client.VerificationQuery{GroupBy: []string{"outcome"}, To: to})
	if err != nil {
		t.Fatal(err)
	}
	want := []keygate.VerificationRow{
		{Start: hour, Code: "MALFORMED", Count: 1}, {Start: hour, Code: "REVOKED", Count: 1}, {Start: hour, Code: "VALID", Count: 3}}
	if !sameRows(rep.Data, want) || rep.Interval != keygate.ByHour || !rep.To.Equal(to) {
		t.Errorf("by outcome: %+v", rep)
	}
	rep, err = e.Client.VerificationAnalytics(ctx, client.VerificationQuery{GroupBy: []string{"key", "service"}, Consumer: "acme",
		Outcome: "VALID", Source: keygate.SourceVerify, To: to, Interval: keygate.ByDay})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := e.Client.Service(ctx, "docs")
	want = []keygate.VerificationRow{{Start: hour.Truncate(24 * time.Hour), KeyID: k.ID, ServiceID: svc.ID, Count: 3}}
	if !sameRows(rep.Data, want) {
		t.Errorf("acme's valid keys by day: %+v", rep.Data)
	}

	for _, tt := range []struct{ query, msg string }{
		{"?group_by=route", "group_by"},
		{"?interval=month", "interval"},
		{"?source=proxy", "source"},
		{"?outcome=valid", "outcome"},
		{"?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "from"},
		{"?from=yesterday", "from"},
		{"?consumer=nobody", "consumer"},
		{"?limit=5", "unknown query parameter"},
		{"?to=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z", "to"},
	} {
		r := request(t, e, "GET", "/v1/analytics/verifications"+tt.query, "", nil)
		if r.status/100 != 4 || !strings.Contains(r.body, tt.msg) {
			t.Errorf("%s: %d %s", tt.query, r.status, r.body)
		}
	}
}

func sameRows(got, want []keygate.VerificationRow) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) {
			return false
		}
		g.Start, w.Start = time.Time{}, time.Time{}
		if g != w {
			return false
		}
	}
	return true
}
