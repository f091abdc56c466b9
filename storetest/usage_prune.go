package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testUsagePrune checks that PruneUsage deletes the records of minutes
// before its cutoff, however many there are, and nothing else.
func testUsagePrune(t *testing.T, s suite) {
	e := s.env(t)
	m := minute(2032, 3, 10, 10, 0)
	all := keygate.UsageQuery{Granularity: keygate.ByMinute, Limit: 100_000}

	// A backlog larger than any sensible batch: 12,000 records in the hour
	// before m, one per minute, credential and route.
	var old []keygate.UsageRecord
	for i := range 12_000 {
		old = append(old, keygate.UsageRecord{Minute: m.Add(-time.Duration(1+i%60) * time.Minute), ConsumerID: "c1",
			CredentialID: fmt.Sprintf("k%d", i/60%20), RouteID: fmt.Sprintf("r%d", i/1200), Allowed: 1})
	}
	check(t, e.store.AddUsage(e.ctx, old))
	kept := []keygate.UsageRecord{
		{Minute: m, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 2, BytesIn: 10},
		{Minute: m.Add(time.Minute), ConsumerID: "c2", Allowed: 3},
	}
	check(t, e.store.AddUsage(e.ctx, kept))
	if rows := e.usage(t, all); len(rows) != 12_002 {
		t.Fatalf("%d rows stored, want 12002", len(rows))
	}

	t.Run("nothing before the first minute", func(t *testing.T) {
		n, err := e.store.PruneUsage(e.ctx, m.Add(-time.Hour))
		check(t, err)
		if n != 0 {
			t.Errorf("deleted %d, want 0", n)
		}
	})

	t.Run("everything before the cutoff, in as many batches as it takes", func(t *testing.T) {
		// A cutoff inside a minute keeps that minute: it starts before it.
		n, err := e.store.PruneUsage(e.ctx, m.Add(-time.Second).In(time.FixedZone("UTC-5", -5*60*60)))
		check(t, err)
		if n != 12_000 {
			t.Errorf("deleted %d, want 12000", n)
		}
		wantUsage(t, e.usage(t, all), []keygate.UsageRow{
			{Start: m, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", Allowed: 2, BytesIn: 10},
			{Start: m.Add(time.Minute), ConsumerID: "c2", Allowed: 3},
		})
	})

	t.Run("a cutoff inside a minute deletes the minute that starts before it", func(t *testing.T) {
		n, err := e.store.PruneUsage(e.ctx, m.Add(30*time.Second))
		check(t, err)
		if n != 1 {
			t.Errorf("deleted %d, want 1", n)
		}
		wantUsage(t, e.usage(t, all), []keygate.UsageRow{{Start: m.Add(time.Minute), ConsumerID: "c2", Allowed: 3}})
	})

	t.Run("several at once delete each row once", func(t *testing.T) {
		var batch []keygate.UsageRecord
		for i := range 3000 {
			batch = append(batch, keygate.UsageRecord{Minute: m.Add(-time.Duration(1+i) * time.Minute), ConsumerID: "c3", Allowed: 1})
		}
		check(t, e.store.AddUsage(e.ctx, batch))
		var wg sync.WaitGroup
		counts := make([]int64, 4)
		for i := range counts {
			wg.Go(func() {
				n, err := e.store.PruneUsage(e.ctx, m)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		var total int64
		for _, n := range counts {
			total += n
		}
		if total != 3000 {
			t.Errorf("deleted %v, %d in all, want 3000", counts, total)
		}
		wantUsage(t, e.usage(t, all), []keygate.UsageRow{{Start: m.Add(time.Minute), ConsumerID: "c2", Allowed: 3}})
	})

	e.wantChanges(t) // usage is in no cache
}
