package lifecycle_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/lifecycle"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/storetest"
)

type recorder struct {
	mu     sync.Mutex
	events []keygate.Event
}

func (r *recorder) Publish(_ context.Context, e keygate.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// The jobs walk a key through its life on an injected clock: a notice ahead
// of expiry (once), archival after it ended, destruction after retention.
func TestJobsWalkAKeyThroughItsLife(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keygate.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := keygate.NewConsumer()
	c.Username = "acme"
	if err := db.CreateConsumer(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	expires := clock.Now().Add(30 * day)
	k := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Prefix: "kg_test", Start: "kg_test_abcd", Identifier: "abcdefghijkl",
		SecretHash: []byte{1, 2, 3}, ExpiresAt: &expires}
	if err := db.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	events := &recorder{}
	jobs := &lifecycle.Jobs{Store: db, Events: events, Now: clock.Now, Notice: 14 * day, ArchiveAfter: 7 * day, Retention: 90 * day}

	steps := []struct {
		advance                      time.Duration
		noticed, archived, destroyed int
	}{
		{0, 0, 0, 0},                 // 30 days left: nothing to say yet
		{17 * day, 1, 0, 0},          // 13 days left: the notice
		{day, 0, 0, 0},               // only once
		{13 * day, 0, 0, 0},          // expired; not archived for a week
		{7 * day, 0, 1, 0},           // archived
		{89 * day, 0, 0, 0},          // kept for audit
		{day + time.Second, 0, 0, 1}, // destroyed after retention
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		n, a, d, err := jobs.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n != s.noticed || a != s.archived || d != s.destroyed {
			t.Fatalf("step %d: noticed %d archived %d destroyed %d, want %d %d %d", i, n, a, d, s.noticed, s.archived, s.destroyed)
		}
		if i == 4 {
			stored, err := db.FindKey(t.Context(), k.ID)
			if err != nil || stored.Status != keygate.KeyArchived || len(stored.SecretHash) != 0 {
				t.Fatalf("after archival: %+v %v", stored, err)
			}
		}
	}
	if _, err := db.FindKey(t.Context(), k.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("after retention: %v", err)
	}
	if len(events.events) != 1 || events.events[0].Type != keygate.EventKeyExpiring || events.events[0].ConsumerID != c.ID {
		t.Errorf("events %+v", events.events)
	}
}
