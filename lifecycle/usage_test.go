package lifecycle_test

import (
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/lifecycle"
	"github.com/keygate/keygate/storetest"
)

// Usage older than the retention is pruned, by any number of nodes at once;
// without a retention it is kept.
func TestJobsPruneUsage(t *testing.T) {
	clock := storetest.NewClock(time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC))
	db, c := newStore(t, clock)
	day := 24 * time.Hour
	var records []keygate.UsageRecord
	for d := range 10 { // one record a day, the newest today
		records = append(records, keygate.UsageRecord{Minute: clock.Now().Add(-time.Duration(d) * day), ConsumerID: c.ID,
			CredentialID: "k1", RouteID: "r1", Allowed: 1})
	}
	if err := db.AddUsage(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		rows, err := db.Usage(t.Context(), keygate.UsageQuery{Granularity: keygate.ByMinute})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}

	keep := &lifecycle.Jobs{Store: db, Now: clock.Now}
	if r, err := keep.RunOnce(t.Context()); err != nil || r.UsagePruned != 0 || count() != 10 {
		t.Fatalf("without a retention: pruned %d, %d rows left, %v", r.UsagePruned, count(), err)
	}

	// Three nodes prune at once: the records of days 4 to 9 go once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var pruned int64
	for range 3 {
		jobs := &lifecycle.Jobs{Store: db, Now: clock.Now, UsageRetention: 3*day + time.Hour}
		wg.Go(func() {
			r, err := jobs.RunOnce(t.Context())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			pruned += r.UsagePruned
			mu.Unlock()
		})
	}
	wg.Wait()
	if pruned != 6 || count() != 4 {
		t.Errorf("pruned %d in all, %d rows left; want 6 and 4", pruned, count())
	}

	clock.Advance(day)
	jobs := &lifecycle.Jobs{Store: db, Now: clock.Now, UsageRetention: 3*day + time.Hour}
	if r, err := jobs.RunOnce(t.Context()); err != nil || r.UsagePruned != 1 || count() != 3 {
		t.Errorf("a day later: pruned %d, %d rows left, %v; want 1 and 3", r.UsagePruned, count(), err)
	}
}

// The change log keeps a change for the retention; without one, forever.
func TestJobsPruneChanges(t *testing.T) {
	clock := storetest.NewClock(time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC))
	db, _ := newStore(t, clock) // its consumer is an early change
	clock.Advance(2 * time.Hour)
	if err := db.CreateService(t.Context(), &keygate.Service{Name: "recent", URL: "http://recent.internal"}); err != nil {
		t.Fatal(err)
	}
	before, err := db.ChangesSince(t.Context(), 0, 100)
	if err != nil || len(before) < 2 {
		t.Fatalf("change log %v, %v", before, err)
	}
	if r, err := (&lifecycle.Jobs{Store: db, Now: clock.Now}).RunOnce(t.Context()); err != nil || r.ChangesPruned != 0 {
		t.Fatalf("without a retention: pruned %d, %v", r.ChangesPruned, err)
	}
	r, err := (&lifecycle.Jobs{Store: db, Now: clock.Now, ChangeRetention: time.Hour}).RunOnce(t.Context())
	if err != nil || r.ChangesPruned != int64(len(before)-1) {
		t.Fatalf("pruned %d, %v; want %d", r.ChangesPruned, err, len(before)-1)
	}
	if left, err := db.ChangesSince(t.Context(), 0, 100); err != nil || len(left) != 1 || left[0].ID != before[len(before)-1].ID {
		t.Errorf("left %v, %v; want the recent change", left, err)
	}
}
