package storetest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// defaultUsageLimit is the Limit a UsageQuery without one gets.
const defaultUsageLimit = 10_000

// minute is the start of a minute in UTC.
func minute(year int, month time.Month, day, hour, min int) time.Time {
	return time.Date(year, month, day, hour, min, 0, 0, time.UTC)
}

// usage returns the rows of q, failing the test on an error.
func (e *env) usage(tb testing.TB, q keygate.UsageQuery) []keygate.UsageRow {
	tb.Helper()
	rows, err := e.store.Usage(e.ctx, q)
	check(tb, err)
	return rows
}

func wantUsage(tb testing.TB, got, want []keygate.UsageRow) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%d rows, want %d:\n got %s\nwant %s", len(got), len(want), usageString(got), usageString(want))
		return
	}
	for i := range got {
		if got[i].Start.Location() != time.UTC {
			tb.Errorf("row %d starts in %v, want UTC", i, got[i].Start.Location())
		}
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) {
			tb.Errorf("rows:\n got %s\nwant %s", usageString(got), usageString(want))
			return
		}
		g.Start, w.Start = time.Time{}, time.Time{}
		if g != w {
			tb.Errorf("rows:\n got %s\nwant %s", usageString(got), usageString(want))
			return
		}
	}
}

func usageString(rows []keygate.UsageRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %s %q/%q/%q allowed %d rejected %d in %d out %d", r.Start.UTC().Format(time.RFC3339),
			r.ConsumerID, r.CredentialID, r.RouteID, r.Allowed, r.Rejected, r.BytesIn, r.BytesOut)
	}
	return b.String()
}

func testUsageAdds(t *testing.T, s suite) {
	e := s.env(t)
	m := minute(2032, 3, 10, 10, 0)
	all := keygate.UsageQuery{Granularity: keygate.ByMinute}

	t.Run("no records change nothing", func(t *testing.T) {
		check(t, e.store.AddUsage(e.ctx, nil))
		check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{}))
		if rows := e.usage(t, all); rows == nil || len(rows) != 0 {
			t.Errorf("rows = %#v, want an empty list", rows)
		}
	})

	t.Run("counts of the same minute, consumer, credential and route add up", func(t *testing.T) {
		zone := time.FixedZone("UTC+2", 2*60*60)
		check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{
			{Minute: m, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 1, Rejected: 2, BytesIn: 100, BytesOut: 1000},
			{Minute: m, ConsumerID: "c1", CredentialID: "k2", RouteID: "r1", Allowed: 7},
			// The same key again in one call, given in another zone.
			{Minute: m.In(zone), ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 10, BytesOut: 5_000_000_000},
		}))
		check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{
			{Minute: m, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 100, Rejected: 20, BytesIn: 1, BytesOut: 5_000_000_000},
			// Anonymous requests: no consumer, no credential.
			{Minute: m, RouteID: "r1", Allowed: 3},
			{Minute: m, RouteID: "r1", Rejected: 4},
		}))
		wantUsage(t, e.usage(t, all), []keygate.UsageRow{
			{Start: m, RouteID: "r1", Allowed: 3, Rejected: 4},
			{Start: m, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 111, Rejected: 22, BytesIn: 101, BytesOut: 10_000_001_000},
			{Start: m, ConsumerID: "c1", CredentialID: "k2", RouteID: "r1", Allowed: 7},
		})
	})

	t.Run("a time inside a minute counts for that minute", func(t *testing.T) {
		check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{
			{Minute: m.Add(59*time.Second + 999*time.Millisecond), ConsumerID: "c1", CredentialID: "k2", RouteID: "r1", Allowed: 1},
		}))
		rows := e.usage(t, keygate.UsageQuery{CredentialID: "k2", Granularity: keygate.ByMinute})
		wantUsage(t, rows, []keygate.UsageRow{{Start: m, ConsumerID: "c1", CredentialID: "k2", RouteID: "r1", Allowed: 8}})
	})

	t.Run("concurrent flushes of the same rows all count", func(t *testing.T) {
		later := m.Add(time.Hour)
		flushConcurrently(t, func(f int, ids []string) error {
			records := make([]keygate.UsageRecord, len(ids))
			for i, id := range ids {
				records[i] = keygate.UsageRecord{Minute: later, ConsumerID: "c9", CredentialID: id, Allowed: 1}
			}
			return e.store.AddUsage(e.ctx, records)
		}, func() map[string]int64 {
			counts := map[string]int64{}
			for _, r := range e.usage(t, keygate.UsageQuery{ConsumerID: "c9", Granularity: keygate.ByMinute}) {
				counts[r.CredentialID] = r.Allowed
			}
			return counts
		})
	})

	t.Run("usage emits no changes", func(t *testing.T) { e.wantChanges(t) })

	t.Run("usage outlives what it counts", func(t *testing.T) {
		c := e.consumer(t, "alice")
		k := e.key(t, c, "alicekey")
		check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{{Minute: m, ConsumerID: c.ID, CredentialID: k.ID, RouteID: missingID, Allowed: 5}}))
		check(t, e.store.DeleteConsumer(e.ctx, c.ID))
		rows := e.usage(t, keygate.UsageQuery{ConsumerID: c.ID, Granularity: keygate.ByDay})
		wantUsage(t, rows, []keygate.UsageRow{{Start: minute(2032, 3, 10, 0, 0), ConsumerID: c.ID, CredentialID: k.ID, RouteID: missingID, Allowed: 5}})
	})
}

func testUsageInvalid(t *testing.T, s suite) {
	e := s.env(t)
	m := minute(2032, 3, 10, 10, 0)
	records := []struct {
		name   string
		record keygate.UsageRecord
		field  string
	}{
		{"no minute", keygate.UsageRecord{ConsumerID: "c1", Allowed: 1}, "records[1].minute"},
		{"negative allowed", keygate.UsageRecord{Minute: m, Allowed: -1}, "records[1].allowed"},
		{"negative rejected", keygate.UsageRecord{Minute: m, Rejected: -1}, "records[1].rejected"},
		{"negative bytes in", keygate.UsageRecord{Minute: m, BytesIn: -1}, "records[1].bytes_in"},
		{"negative bytes out", keygate.UsageRecord{Minute: m, BytesOut: -1}, "records[1].bytes_out"},
	}
	for _, tt := range records {
		t.Run(tt.name+" refuses the whole call", func(t *testing.T) {
			good := keygate.UsageRecord{Minute: m, ConsumerID: "c1", Allowed: 1}
			err := e.store.AddUsage(e.ctx, []keygate.UsageRecord{good, tt.record})
			wantError(t, err, keygate.EINVALID, tt.field)
			if rows := e.usage(t, keygate.UsageQuery{Granularity: keygate.ByMonth}); len(rows) != 0 {
				t.Errorf("a refused call stored %s", usageString(rows))
			}
		})
	}

	queries := []struct {
		name  string
		q     keygate.UsageQuery
		field string
	}{
		{"no granularity", keygate.UsageQuery{}, "granularity"},
		{"an unknown granularity", keygate.UsageQuery{Granularity: "week"}, "granularity"},
		{"a negative limit", keygate.UsageQuery{Granularity: keygate.ByDay, Limit: -1}, "limit"},
		{"to before from", keygate.UsageQuery{Granularity: keygate.ByDay, From: m, To: m.Add(-time.Minute)}, "to"},
	}
	for _, tt := range queries {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := e.store.Usage(e.ctx, tt.q)
			wantError(t, err, keygate.EINVALID, tt.field)
			if rows != nil {
				t.Errorf("rows %s with an error", usageString(rows))
			}
		})
	}
}

func testUsageQuery(t *testing.T, s suite) {
	e := s.env(t)
	m := minute(2032, 3, 10, 10, 0)
	at := func(i int) time.Time { return m.Add(time.Duration(i) * time.Minute) }
	rec := func(i int, consumer, credential, route string, allowed int64) keygate.UsageRecord {
		return keygate.UsageRecord{Minute: at(i), ConsumerID: consumer, CredentialID: credential, RouteID: route,
			Allowed: allowed, Rejected: allowed / 2, BytesIn: allowed * 10, BytesOut: allowed * 100}
	}
	row := func(i int, consumer, credential, route string, allowed int64) keygate.UsageRow {
		r := rec(i, consumer, credential, route, allowed)
		return keygate.UsageRow{Start: r.Minute, ConsumerID: consumer, CredentialID: credential, RouteID: route,
			Allowed: r.Allowed, Rejected: r.Rejected, BytesIn: r.BytesIn, BytesOut: r.BytesOut}
	}
	// Added out of order, so that the order of the rows is the store's.
	check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{
		rec(2, "c2", "k3", "r1", 8),
		rec(0, "c1", "k2", "r1", 4),
		rec(1, "c1", "k1", "r2", 6),
		rec(0, "c2", "k3", "r2", 10),
		rec(0, "c1", "k1", "r2", 2),
		rec(3, "", "", "r2", 12),
		rec(0, "c1", "k1", "r1", 14),
		rec(1, "", "", "r1", 16),
	}))
	all := []keygate.UsageRow{
		row(0, "c1", "k1", "r1", 14),
		row(0, "c1", "k1", "r2", 2),
		row(0, "c1", "k2", "r1", 4),
		row(0, "c2", "k3", "r2", 10),
		row(1, "", "", "r1", 16),
		row(1, "c1", "k1", "r2", 6),
		row(2, "c2", "k3", "r1", 8),
		row(3, "", "", "r2", 12),
	}
	where := func(keep func(keygate.UsageRow) bool) []keygate.UsageRow {
		var out []keygate.UsageRow
		for _, r := range all {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		name string
		q    keygate.UsageQuery
		want []keygate.UsageRow
	}{
		{"everything, ordered by start then ids", keygate.UsageQuery{From: at(0), To: at(4)}, all},
		{"no bounds", keygate.UsageQuery{}, all},
		{"one consumer", keygate.UsageQuery{ConsumerID: "c1"},
			where(func(r keygate.UsageRow) bool { return r.ConsumerID == "c1" })},
		{"one credential", keygate.UsageQuery{CredentialID: "k3"},
			where(func(r keygate.UsageRow) bool { return r.CredentialID == "k3" })},
		{"one route", keygate.UsageQuery{RouteID: "r2"},
			where(func(r keygate.UsageRow) bool { return r.RouteID == "r2" })},
		{"a consumer on a route", keygate.UsageQuery{ConsumerID: "c1", RouteID: "r2"},
			where(func(r keygate.UsageRow) bool { return r.ConsumerID == "c1" && r.RouteID == "r2" })},
		{"ids that match nothing", keygate.UsageQuery{ConsumerID: "c1", CredentialID: "k3"}, nil},
		{"from is inclusive, to exclusive", keygate.UsageQuery{From: at(1), To: at(3)},
			where(func(r keygate.UsageRow) bool { return !r.Start.Before(at(1)) && r.Start.Before(at(3)) })},
		{"only from", keygate.UsageQuery{From: at(2)},
			where(func(r keygate.UsageRow) bool { return !r.Start.Before(at(2)) })},
		{"only to", keygate.UsageQuery{To: at(1)},
			where(func(r keygate.UsageRow) bool { return r.Start.Before(at(1)) })},
		{"a from inside a minute leaves that minute out", keygate.UsageQuery{From: at(1).Add(time.Nanosecond)},
			where(func(r keygate.UsageRow) bool { return r.Start.After(at(1)) })},
		{"a to inside a minute keeps that minute", keygate.UsageQuery{To: at(1).Add(time.Second)},
			where(func(r keygate.UsageRow) bool { return !r.Start.After(at(1)) })},
		{"bounds in another zone", keygate.UsageQuery{From: at(1).In(time.FixedZone("UTC-5", -5*60*60)), To: at(2).In(time.FixedZone("UTC+9", 9*60*60))},
			where(func(r keygate.UsageRow) bool { return r.Start.Equal(at(1)) })},
		{"an empty range", keygate.UsageQuery{From: at(1), To: at(1)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Granularity = keygate.ByMinute
			wantUsage(t, e.usage(t, tt.q), tt.want)
		})
	}
}

func testUsageGranularity(t *testing.T, s suite) {
	e := s.env(t)
	// Around the ends of hours, days, a leap February and a year, given in
	// a zone west of UTC: buckets are UTC's calendar, whatever the zone.
	zone := time.FixedZone("UTC-5", -5*60*60)
	times := []time.Time{
		minute(2032, 1, 31, 23, 59),  // 1
		minute(2032, 2, 1, 0, 0),     // 2
		minute(2032, 2, 1, 0, 59),    // 4
		minute(2032, 2, 1, 1, 0),     // 8
		minute(2032, 2, 29, 23, 59),  // 16
		minute(2032, 3, 1, 0, 0),     // 32
		minute(2032, 12, 31, 23, 59), // 64
		minute(2033, 1, 1, 0, 0),     // 128
	}
	var records []keygate.UsageRecord
	for i, t := range times {
		records = append(records, keygate.UsageRecord{Minute: t.In(zone), ConsumerID: "c1", CredentialID: "k1", RouteID: "r1",
			Allowed: 1 << i, Rejected: 2 << i, BytesIn: 3 << i, BytesOut: 4 << i})
	}
	check(t, e.store.AddUsage(e.ctx, records))
	row := func(start time.Time, sum int64) keygate.UsageRow {
		return keygate.UsageRow{Start: start, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1",
			Allowed: sum, Rejected: 2 * sum, BytesIn: 3 * sum, BytesOut: 4 * sum}
	}
	var byMinute []keygate.UsageRow
	for i, t := range times {
		byMinute = append(byMinute, row(t, 1<<i))
	}
	tests := []struct {
		name     string
		g        keygate.Granularity
		from, to time.Time
		want     []keygate.UsageRow
	}{
		{"minute", keygate.ByMinute, time.Time{}, time.Time{}, byMinute},
		{"hour", keygate.ByHour, time.Time{}, time.Time{}, []keygate.UsageRow{
			row(minute(2032, 1, 31, 23, 0), 1),
			row(minute(2032, 2, 1, 0, 0), 2+4),
			row(minute(2032, 2, 1, 1, 0), 8),
			row(minute(2032, 2, 29, 23, 0), 16),
			row(minute(2032, 3, 1, 0, 0), 32),
			row(minute(2032, 12, 31, 23, 0), 64),
			row(minute(2033, 1, 1, 0, 0), 128),
		}},
		{"day", keygate.ByDay, time.Time{}, time.Time{}, []keygate.UsageRow{
			row(minute(2032, 1, 31, 0, 0), 1),
			row(minute(2032, 2, 1, 0, 0), 2+4+8),
			row(minute(2032, 2, 29, 0, 0), 16),
			row(minute(2032, 3, 1, 0, 0), 32),
			row(minute(2032, 12, 31, 0, 0), 64),
			row(minute(2033, 1, 1, 0, 0), 128),
		}},
		{"month", keygate.ByMonth, time.Time{}, time.Time{}, []keygate.UsageRow{
			row(minute(2032, 1, 1, 0, 0), 1),
			row(minute(2032, 2, 1, 0, 0), 2+4+8+16),
			row(minute(2032, 3, 1, 0, 0), 32),
			row(minute(2032, 12, 1, 0, 0), 64),
			row(minute(2033, 1, 1, 0, 0), 128),
		}},
		{"a bucket starts on its boundary, whatever from is", keygate.ByMonth, minute(2032, 2, 15, 0, 0), minute(2032, 3, 1, 0, 0),
			[]keygate.UsageRow{row(minute(2032, 2, 1, 0, 0), 16)}},
		{"a bucket holds only what is before to", keygate.ByDay, time.Time{}, minute(2032, 2, 1, 0, 59),
			[]keygate.UsageRow{row(minute(2032, 1, 31, 0, 0), 1), row(minute(2032, 2, 1, 0, 0), 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantUsage(t, e.usage(t, keygate.UsageQuery{From: tt.from, To: tt.to, Granularity: tt.g}), tt.want)
		})
	}
}

// testUsageSums checks many records against sums worked out here.
func testUsageSums(t *testing.T, s suite) {
	e := s.env(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	first := minute(2032, 1, 30, 0, 0)
	ids := func(prefix string) string {
		if n := rnd.IntN(4); n > 0 {
			return fmt.Sprintf("%s%d", prefix, n)
		}
		return ""
	}
	var records []keygate.UsageRecord
	for range 500 {
		records = append(records, keygate.UsageRecord{
			Minute:     first.Add(time.Duration(rnd.IntN(70*24*60)) * time.Minute),
			ConsumerID: ids("c"), CredentialID: ids("k"), RouteID: ids("r"),
			Allowed: rnd.Int64N(1000), Rejected: rnd.Int64N(10), BytesIn: rnd.Int64N(1 << 40), BytesOut: rnd.Int64N(1 << 40),
		})
	}
	// In three calls, so that some sums are made across calls.
	check(t, e.store.AddUsage(e.ctx, records[:100]))
	check(t, e.store.AddUsage(e.ctx, records[100:350]))
	check(t, e.store.AddUsage(e.ctx, records[350:]))

	sums := func(q keygate.UsageQuery) []keygate.UsageRow {
		p, _ := q.Granularity.Period()
		type key struct {
			start                       int64
			consumer, credential, route string
		}
		byKey := map[key]*keygate.UsageRow{}
		for _, r := range records {
			if q.ConsumerID != "" && r.ConsumerID != q.ConsumerID || q.CredentialID != "" && r.CredentialID != q.CredentialID ||
				q.RouteID != "" && r.RouteID != q.RouteID || r.Minute.Before(q.From) || !r.Minute.Before(q.To) {
				continue
			}
			start, _ := p.Window(r.Minute)
			k := key{start.Unix(), r.ConsumerID, r.CredentialID, r.RouteID}
			row := byKey[k]
			if row == nil {
				row = &keygate.UsageRow{Start: start, ConsumerID: r.ConsumerID, CredentialID: r.CredentialID, RouteID: r.RouteID}
				byKey[k] = row
			}
			row.Allowed += r.Allowed
			row.Rejected += r.Rejected
			row.BytesIn += r.BytesIn
			row.BytesOut += r.BytesOut
		}
		var out []keygate.UsageRow
		for _, r := range byKey {
			out = append(out, *r)
		}
		slices.SortFunc(out, func(a, b keygate.UsageRow) int {
			return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.ConsumerID, b.ConsumerID),
				strings.Compare(a.CredentialID, b.CredentialID), strings.Compare(a.RouteID, b.RouteID))
		})
		return out
	}
	ranges := []struct{ from, to time.Time }{
		{first, first.AddDate(0, 3, 0)},
		{minute(2032, 2, 3, 7, 31), minute(2032, 3, 9, 13, 2)},
	}
	filters := []keygate.UsageQuery{{}, {ConsumerID: "c1"}, {CredentialID: "k2", RouteID: "r3"}, {ConsumerID: "c3", CredentialID: "k1", RouteID: "r2"}}
	for _, g := range []keygate.Granularity{keygate.ByMinute, keygate.ByHour, keygate.ByDay, keygate.ByMonth} {
		for i, rg := range ranges {
			for _, f := range filters {
				q := f
				q.Granularity, q.From, q.To = g, rg.from, rg.to
				t.Run(fmt.Sprintf("%s/range %d/%q %q %q", g, i, f.ConsumerID, f.CredentialID, f.RouteID), func(t *testing.T) {
					wantUsage(t, e.usage(t, q), sums(q))
				})
			}
		}
	}
}

func testUsageLimit(t *testing.T, s suite) {
	e := s.env(t)
	m := minute(2032, 3, 10, 10, 0)
	var records []keygate.UsageRecord
	for i := range defaultUsageLimit + 1 {
		records = append(records, keygate.UsageRecord{Minute: m.Add(time.Duration(i) * time.Minute), ConsumerID: "c1", Allowed: 1})
	}
	check(t, e.store.AddUsage(e.ctx, records))
	wantRefused := func(t *testing.T, q keygate.UsageQuery) {
		t.Helper()
		rows, err := e.store.Usage(e.ctx, q)
		wantError(t, err, keygate.EINVALID, "")
		if msg := keygate.ErrorMessage(err); !strings.Contains(msg, "granularity") {
			t.Errorf("message %q does not say to use a coarser granularity", msg)
		}
		if rows != nil {
			t.Errorf("%d rows with an error", len(rows))
		}
	}
	few := keygate.UsageQuery{From: m, To: m.Add(5 * time.Minute), Granularity: keygate.ByMinute}

	t.Run("as many rows as the limit", func(t *testing.T) {
		q := few
		q.Limit = 5
		if rows := e.usage(t, q); len(rows) != 5 {
			t.Errorf("%d rows, want 5", len(rows))
		}
	})
	t.Run("more rows than the limit is refused", func(t *testing.T) {
		q := few
		q.Limit = 4
		wantRefused(t, q)
	})
	t.Run("a coarser granularity fits", func(t *testing.T) {
		q := few
		q.Limit, q.Granularity = 1, keygate.ByHour
		wantUsage(t, e.usage(t, q), []keygate.UsageRow{{Start: m, ConsumerID: "c1", Allowed: 5}})
	})
	t.Run("no limit is the default", func(t *testing.T) {
		wantRefused(t, keygate.UsageQuery{Granularity: keygate.ByMinute})
		q := keygate.UsageQuery{To: m.Add(defaultUsageLimit * time.Minute), Granularity: keygate.ByMinute}
		if rows := e.usage(t, q); len(rows) != defaultUsageLimit {
			t.Errorf("%d rows, want %d", len(rows), defaultUsageLimit)
		}
		// From March 10th, 10:00 to 17th, 08:40.
		if rows := e.usage(t, keygate.UsageQuery{Granularity: keygate.ByDay}); len(rows) != 8 {
			t.Errorf("%d days, want 8", len(rows))
		}
	})
}

// flushConcurrently checks that flushes running at once all count: each of
// flushers goroutines flushes a count of one for ids of its own, then for
// ids every flush has, three times, and stored must then give each id's
// total. On PostgreSQL all but one of the flushes lose on the shared ids,
// after their own ids' statement, and run again: each run must write every
// row, not what the lost attempt had left.
func flushConcurrently(t *testing.T, flush func(flusher int, ids []string) error, stored func() map[string]int64) {
	t.Helper()
	const flushers, flushes, own, shared = 4, 3, 150, 250 // more than two statements' rows
	var wg sync.WaitGroup
	want := map[string]int64{}
	for f := range flushers {
		var ids []string
		for i := range own {
			ids = append(ids, fmt.Sprintf("flusher%d-%03d", f, i)) // sorts first
			want[ids[len(ids)-1]] = flushes
		}
		for i := range shared {
			ids = append(ids, fmt.Sprintf("shared%03d", i))
			want[ids[len(ids)-1]] = flushers * flushes
		}
		wg.Go(func() {
			for range flushes {
				if err := flush(f, ids); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := stored()
	if len(got) != len(want) {
		t.Errorf("%d rows stored, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("%s: %d, want %d", id, got[id], n)
		}
	}
}
