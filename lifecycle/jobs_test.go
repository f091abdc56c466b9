package lifecycle_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/lifecycle"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
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
	db, err := sqlite.Open(t.Context(), sqlitetest.Path(t), sqlite.Options{Now: clock.Now})
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
		r, err := jobs.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		n, a, d := r.Noticed, r.Archived, r.Destroyed
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

// newStore opens a store on clock with one consumer, acme, and a keyring
// version to seal HMAC secrets with.
func newStore(t *testing.T, clock *storetest.Clock) (*sqlite.DB, *keygate.Consumer) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlitetest.Path(t), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := keygate.NewConsumer()
	c.Username = "acme"
	if err := db.CreateConsumer(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := db.AddKeyringVersion(t.Context(), &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	return db, c
}

// hmacCredential stores an HMAC credential of c that expires at expires,
// "sealed" with a stand-in for the keyring.
func hmacCredential(t *testing.T, db *sqlite.DB, c *keygate.Consumer, username string, expires time.Time) *keygate.HMACCredential {
	t.Helper()
	cred := &keygate.HMACCredential{Consumer: keygate.Ref{ID: c.ID}, Username: username, ExpiresAt: &expires}
	err := db.CreateHMACCredential(t.Context(), cred, func(id string) (*keygate.Sealed, error) {
		return &keygate.Sealed{Kind: keygate.SealedHMACSecret, ID: id,
			DataKey: keygate.DataKey{Version: 1, Wrapped: []byte("wrapped")}, Ciphertext: []byte("ciphertext")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// The same walk for an HMAC credential: its notice is an
// hmac_credential.expiring event, and archival destroys its secret.
func TestJobsWalkAnHMACCredentialThroughItsLife(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	db, c := newStore(t, clock)
	day := 24 * time.Hour
	cred := hmacCredential(t, db, c, "acme-signer", clock.Now().Add(30*day))
	events := &recorder{}
	jobs := &lifecycle.Jobs{Store: db, Events: events, Now: clock.Now, Notice: 14 * day, ArchiveAfter: 7 * day, Retention: 90 * day}

	steps := []struct {
		name                         string
		advance                      time.Duration
		noticed, archived, destroyed int
		check                        func(t *testing.T)
	}{
		{"30 days left: nothing to say yet", 0, 0, 0, 0, nil},
		{"13 days left: the notice", 17 * day, 1, 0, 0, func(t *testing.T) {
			if len(events.events) != 1 {
				t.Fatalf("events %+v", events.events)
			}
			e := events.events[0]
			if e.Type != keygate.EventHMACCredentialExpiring || e.ConsumerID != c.ID || e.Data["hmac_credential_id"] != cred.ID ||
				e.Data["username"] != "acme-signer" || !e.Data["expires_at"].(*time.Time).Equal(*cred.ExpiresAt) || len(e.Data) != 3 {
				t.Errorf("notice %+v", e)
			}
		}},
		{"only once", day, 0, 0, 0, nil},
		{"expired: refused by the gateway, not archived for a week", 13 * day, 0, 0, 0, func(t *testing.T) {
			stored, err := db.FindHMACCredential(t.Context(), cred.ID)
			if err != nil || stored.Status != keygate.KeyActive || stored.Usable(clock.Now()) {
				t.Errorf("expired credential: %+v %v", stored, err)
			}
		}},
		{"archived: the secret destroyed, the record kept", 7 * day, 0, 1, 0, func(t *testing.T) {
			stored, err := db.FindHMACCredential(t.Context(), cred.ID)
			if err != nil || stored.Status != keygate.KeyArchived {
				t.Fatalf("after archival: %+v %v", stored, err)
			}
			if _, _, err := db.LookupHMACCredential(t.Context(), "acme-signer"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
				t.Errorf("the gateway's read after archival: %v", err)
			}
			if counts, err := db.DataKeyCounts(t.Context()); err != nil || len(counts) != 0 {
				t.Errorf("data keys after archival: %v %v", counts, err)
			}
		}},
		{"kept for audit", 89 * day, 0, 0, 0, nil},
		{"destroyed after retention", day + time.Second, 0, 0, 1, func(t *testing.T) {
			if _, err := db.FindHMACCredential(t.Context(), cred.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
				t.Errorf("after retention: %v", err)
			}
		}},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		r, err := jobs.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		n, a, d := r.Noticed, r.Archived, r.Destroyed
		if n != s.noticed || a != s.archived || d != s.destroyed {
			t.Fatalf("step %d (%s): noticed %d archived %d destroyed %d, want %d %d %d", i, s.name, n, a, d, s.noticed, s.archived, s.destroyed)
		}
		if s.check != nil {
			t.Run(s.name, s.check)
		}
	}
	if len(events.events) != 1 {
		t.Errorf("events %+v, want the one notice", events.events)
	}
	audit, _, err := db.ListAudit(t.Context(), keygate.AuditFilter{TargetID: cred.ID}, keygate.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range audit {
		trail = append(trail, e.Actor+" "+e.Action)
	}
	if want := []string{"system hmac_credential.created", "system:lifecycle hmac_credential.archived", "system:lifecycle hmac_credential.destroyed"}; !slices.Equal(trail, want) {
		t.Errorf("audit trail %q, want %q", trail, want)
	}
}

// RunOnce's counts are over both kinds.
func TestJobsCountKeysAndHMACCredentials(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	db, c := newStore(t, clock)
	day := 24 * time.Hour
	expires := clock.Now().Add(10 * day)
	k := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Prefix: "kg_test", Start: "kg_test_abcd", Identifier: "abcdefghijkl",
		SecretHash: []byte{1, 2, 3}, ExpiresAt: &expires}
	if err := db.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	hmacCredential(t, db, c, "acme-signer", expires)
	events := &recorder{}
	jobs := &lifecycle.Jobs{Store: db, Events: events, Now: clock.Now, Notice: 14 * day, ArchiveAfter: day, Retention: day}
	for i, s := range []struct {
		advance time.Duration
		want    [3]int // noticed, archived, destroyed
	}{{0, [3]int{2, 0, 0}}, {11 * day, [3]int{0, 2, 0}}, {2 * day, [3]int{0, 0, 2}}} {
		clock.Advance(s.advance)
		r, err := jobs.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]int{r.Noticed, r.Archived, r.Destroyed}; got != s.want {
			t.Errorf("run %d: noticed, archived, destroyed %v, want %v", i, got, s.want)
		}
	}
	var types []string
	for _, e := range events.events {
		types = append(types, e.Type)
	}
	slices.Sort(types)
	if want := []string{keygate.EventHMACCredentialExpiring, keygate.EventKeyExpiring}; !slices.Equal(types, want) {
		t.Errorf("events %q, want %q", types, want)
	}
}
