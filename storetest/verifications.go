package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func (e *env) verifications(tb testing.TB, q keygate.VerificationQuery) []keygate.VerificationRow {
	tb.Helper()
	rows, err := e.store.Verifications(e.ctx, q)
	check(tb, err)
	return rows
}

func wantVerifications(tb testing.TB, got []keygate.VerificationRow, want ...keygate.VerificationRow) {
	tb.Helper()
	str := func(rows []keygate.VerificationRow) string {
		var b strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&b, "\n  %s %s/%s/%s/%s/%s %d", r.Start.Format(time.RFC3339), r.Code, r.ConsumerID, r.KeyID, r.ServiceID, r.Source, r.Count)
		}
		return b.String()
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Start.Equal(w.Start) && g.Start.Location() == time.UTC
		g.Start, w.Start = time.Time{}, time.Time{}
		ok = ok && g == w
	}
	if !ok {
		tb.Errorf("rows:\n got %s\nwant %s", str(got), str(want))
	}
}

func testVerifications(t *testing.T, s suite) {
	e := s.env(t)
	h := time.Date(2032, 3, 10, 10, 0, 0, 0, time.UTC)
	gw, vf := keygate.SourceGateway, keygate.SourceVerify
	check(t, e.store.AddVerifications(e.ctx, nil))
	if rows := e.verifications(t, keygate.VerificationQuery{}); rows == nil || len(rows) != 0 {
		t.Fatalf("rows = %#v, want an empty list", rows)
	}
	check(t, e.store.AddVerifications(e.ctx, []keygate.VerificationCount{
		{Hour: h.Add(5 * time.Minute), KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeValid, Count: 10},
		{Hour: h, KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeValid, Count: 5}, // same row: adds
		{Hour: h, KeyID: "k1", ConsumerID: "c1", Source: vf, Code: keygate.CodeValid, Count: 2},
		{Hour: h, KeyID: "k2", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeRevoked, Count: 3},
		{Hour: h, ServiceID: "s1", Source: gw, Code: keygate.CodeNotFound, Count: 7},
		{Hour: h.Add(time.Hour), KeyID: "k3", ConsumerID: "c2", ServiceID: "s2", Source: vf, Code: "RATE_LIMITED", Count: 1},
		{Hour: h.Add(30 * time.Hour), KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeValid, Count: 4},
	}))
	// A second flush adds to the stored rows.
	check(t, e.store.AddVerifications(e.ctx, []keygate.VerificationCount{
		{Hour: h, KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeValid, Count: 1},
	}))

	t.Run("by hour and outcome", func(t *testing.T) {
		rows := e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"outcome"}})
		wantVerifications(t, rows,
			keygate.VerificationRow{Start: h, Code: "NOT_FOUND", Count: 7},
			keygate.VerificationRow{Start: h, Code: "REVOKED", Count: 3},
			keygate.VerificationRow{Start: h, Code: "VALID", Count: 18},
			keygate.VerificationRow{Start: h.Add(time.Hour), Code: "RATE_LIMITED", Count: 1},
			keygate.VerificationRow{Start: h.Add(30 * time.Hour), Code: "VALID", Count: 4})
	})
	t.Run("by day, outcome and consumer, in a range", func(t *testing.T) {
		day := h.Truncate(24 * time.Hour)
		rows := e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"consumer", "outcome"}, Interval: keygate.ByDay,
			From: day, To: day.Add(24 * time.Hour)})
		wantVerifications(t, rows,
			keygate.VerificationRow{Start: day, Code: "NOT_FOUND", Count: 7},
			keygate.VerificationRow{Start: day, Code: "RATE_LIMITED", ConsumerID: "c2", Count: 1},
			keygate.VerificationRow{Start: day, Code: "REVOKED", ConsumerID: "c1", Count: 3},
			keygate.VerificationRow{Start: day, Code: "VALID", ConsumerID: "c1", Count: 18})
	})
	t.Run("one key, by source and service", func(t *testing.T) {
		rows := e.verifications(t, keygate.VerificationQuery{KeyID: "k1", GroupBy: []string{"source", "service", "key"},
			To: h.Add(time.Hour)})
		wantVerifications(t, rows,
			keygate.VerificationRow{Start: h, KeyID: "k1", Source: vf, Count: 2},
			keygate.VerificationRow{Start: h, KeyID: "k1", Source: gw, Count: 16, ServiceID: "s1"})
	})
	t.Run("filters", func(t *testing.T) {
		rows := e.verifications(t, keygate.VerificationQuery{ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeValid, Interval: keygate.ByDay})
		wantVerifications(t, rows,
			keygate.VerificationRow{Start: h.Truncate(24 * time.Hour), Count: 16},
			keygate.VerificationRow{Start: h.Add(30 * time.Hour).Truncate(24 * time.Hour), Count: 4})
	})
	t.Run("limit", func(t *testing.T) {
		_, err := e.store.Verifications(e.ctx, keygate.VerificationQuery{GroupBy: []string{"outcome"}, Limit: 4})
		wantError(t, err, keygate.EINVALID, "verifications")
		rows := e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"outcome"}, Limit: 5})
		if len(rows) != 5 {
			t.Errorf("%d rows", len(rows))
		}
	})
	t.Run("pruned with usage", func(t *testing.T) {
		if _, err := e.store.PruneUsage(e.ctx, h.Add(90*time.Minute)); err != nil {
			t.Fatal(err)
		}
		rows := e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"outcome"}})
		wantVerifications(t, rows,
			keygate.VerificationRow{Start: h.Add(time.Hour), Code: "RATE_LIMITED", Count: 1},
			keygate.VerificationRow{Start: h.Add(30 * time.Hour), Code: "VALID", Count: 4})
	})
	t.Run("invalid", func(t *testing.T) {
		for _, c := range []struct {
			q     keygate.VerificationQuery
			field string
		}{
			{keygate.VerificationQuery{GroupBy: []string{"route"}}, "group_by"},
			{keygate.VerificationQuery{Interval: keygate.ByMonth}, "interval"},
			{keygate.VerificationQuery{From: h, To: h.Add(-time.Hour)}, "to"},
			{keygate.VerificationQuery{Limit: -1}, "limit"},
		} {
			_, err := e.store.Verifications(e.ctx, c.q)
			wantError(t, err, keygate.EINVALID, c.field)
		}
		for _, c := range []struct {
			count keygate.VerificationCount
			field string
		}{
			{keygate.VerificationCount{Source: gw, Code: "VALID", Count: 1}, "counts[1].hour"},
			{keygate.VerificationCount{Hour: h, Source: "proxy", Code: "VALID", Count: 1}, "counts[1].source"},
			{keygate.VerificationCount{Hour: h, Source: gw, Count: 1}, "counts[1].code"},
			{keygate.VerificationCount{Hour: h, Source: gw, Code: "VALID", Count: -1}, "counts[1].count"},
		} {
			before := e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"outcome"}})
			err := e.store.AddVerifications(e.ctx, []keygate.VerificationCount{
				{Hour: h, Source: gw, Code: "VALID", Count: 100}, c.count})
			wantError(t, err, keygate.EINVALID, c.field)
			wantVerifications(t, e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"outcome"}}), before...)
		}
	})
	t.Run("concurrent flushes of the same rows all count", func(t *testing.T) {
		later := h.Add(100 * time.Hour)
		flushConcurrently(t, func(f int, ids []string) error {
			counts := make([]keygate.VerificationCount, len(ids))
			for i, id := range ids {
				counts[i] = keygate.VerificationCount{Hour: later, KeyID: id, ConsumerID: "c9", Source: gw, Code: keygate.CodeValid, Count: 1}
			}
			return e.store.AddVerifications(e.ctx, counts)
		}, func() map[string]int64 {
			counts := map[string]int64{}
			for _, r := range e.verifications(t, keygate.VerificationQuery{ConsumerID: "c9", GroupBy: []string{"key"}}) {
				counts[r.KeyID] = r.Count
			}
			return counts
		})
	})
}

// The gateway's VALID verifications that usage rows carry count as
// verifications of their minute's hour, beside the stored counts, under
// every filter and grouping; usage queries do not show a row that holds
// nothing else.
func testVerificationsFromUsage(t *testing.T, s suite) {
	e := s.env(t)
	h := time.Date(2032, 3, 10, 10, 0, 0, 0, time.UTC)
	gw, vf := keygate.SourceGateway, keygate.SourceVerify
	check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{
		{Minute: h.Add(5 * time.Minute), ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 4, ServiceID: "s1", GatewayValid: 4},
		{Minute: h.Add(59 * time.Minute), ConsumerID: "c1", CredentialID: "k1", RouteID: "r2", Allowed: 2, ServiceID: "s1", GatewayValid: 2},
		{Minute: h.Add(61 * time.Minute), ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 1, ServiceID: "s1", GatewayValid: 1},
		{Minute: h.Add(5 * time.Minute), ConsumerID: "c2", CredentialID: "k2", RouteID: "r3", ServiceID: "s2", GatewayValid: 3}, // nothing else
		{Minute: h.Add(5 * time.Minute), RouteID: "open", Allowed: 9},
	}))
	// A later flush adds to the row; the row keeps its service.
	check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{
		{Minute: h.Add(5 * time.Minute), ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 1, ServiceID: "s9", GatewayValid: 1},
	}))
	check(t, e.store.AddVerifications(e.ctx, []keygate.VerificationCount{
		{Hour: h, KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeValid, Count: 10}, // written before the change
		{Hour: h, KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", Source: gw, Code: keygate.CodeRevoked, Count: 7},
		{Hour: h, KeyID: "k1", ConsumerID: "c1", Source: vf, Code: keygate.CodeValid, Count: 5},
	}))

	t.Run("by hour, key and outcome", func(t *testing.T) {
		wantVerifications(t, e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"key", "outcome"}}),
			keygate.VerificationRow{Start: h, KeyID: "k1", Code: "REVOKED", Count: 7},
			keygate.VerificationRow{Start: h, KeyID: "k1", Code: "VALID", Count: 10 + 5 + 5 + 2},
			keygate.VerificationRow{Start: h, KeyID: "k2", Code: "VALID", Count: 3},
			keygate.VerificationRow{Start: h.Add(time.Hour), KeyID: "k1", Code: "VALID", Count: 1})
	})
	t.Run("by service and source, by day", func(t *testing.T) {
		wantVerifications(t, e.verifications(t, keygate.VerificationQuery{GroupBy: []string{"service", "source"}, Interval: keygate.ByDay}),
			keygate.VerificationRow{Start: h.Truncate(24 * time.Hour), Source: vf, Count: 5},
			keygate.VerificationRow{Start: h.Truncate(24 * time.Hour), ServiceID: "s1", Source: gw, Count: 10 + 7 + 5 + 2 + 1},
			keygate.VerificationRow{Start: h.Truncate(24 * time.Hour), ServiceID: "s2", Source: gw, Count: 3})
	})
	t.Run("filtered", func(t *testing.T) {
		for _, c := range []struct {
			q    keygate.VerificationQuery
			want int64
		}{
			{keygate.VerificationQuery{KeyID: "k1", Code: keygate.CodeValid, Source: gw}, 10 + 5 + 2 + 1},
			{keygate.VerificationQuery{ConsumerID: "c2"}, 3},
			{keygate.VerificationQuery{ServiceID: "s2", Code: keygate.CodeValid}, 3},
			{keygate.VerificationQuery{Source: vf}, 5},
			{keygate.VerificationQuery{Code: keygate.CodeRevoked}, 7},
			// Hours, not minutes: a bound inside an hour takes the hour
			// that starts at or after it.
			{keygate.VerificationQuery{From: h.Add(30 * time.Minute), Source: gw}, 1},
			{keygate.VerificationQuery{To: h.Add(30 * time.Minute), Source: gw}, 10 + 7 + 5 + 2 + 3},
			{keygate.VerificationQuery{From: h.Add(time.Hour), To: h.Add(2 * time.Hour)}, 1},
		} {
			var got int64
			for _, r := range e.verifications(t, c.q) {
				got += r.Count
			}
			if got != c.want {
				t.Errorf("%+v: %d verifications, want %d", c.q, got, c.want)
			}
		}
	})
	t.Run("usage leaves out the row of verifications only", func(t *testing.T) {
		rows, err := e.store.Usage(e.ctx, keygate.UsageQuery{Granularity: keygate.ByDay})
		check(t, err)
		for _, r := range rows {
			if r.CredentialID == "k2" {
				t.Errorf("usage shows %+v", r)
			}
		}
		if len(rows) != 3 { // k1 on r1 and r2, the open route
			t.Errorf("usage rows %+v, want 3", rows)
		}
	})
}
