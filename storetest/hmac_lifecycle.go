package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func usernames(creds []*keygate.HMACCredential) []string {
	out := make([]string, len(creds))
	for i, c := range creds {
		out[i] = c.Username
	}
	slices.Sort(out)
	return out
}

// hmacCredentialExpiring stores a credential of consumer that expires d
// from now (never, for 0), whose data key keyring version 1 wraps.
func (e *env) hmacCredentialExpiring(tb testing.TB, consumer *keygate.Consumer, username string, d time.Duration) *keygate.HMACCredential {
	tb.Helper()
	c := newHMACCredential(keygate.Ref{ID: consumer.ID}, username)
	if d != 0 {
		at := e.clock.Now().Add(d)
		c.ExpiresAt = &at
	}
	check(tb, e.store.CreateHMACCredential(e.ctx, c, sealHMAC(1, nil)))
	e.changes.take()
	return c
}

// wantAudit checks that the audit trail holds action for each of ids, once.
func (e *env) wantAudit(tb testing.TB, action string, ids ...string) {
	tb.Helper()
	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{Action: action}, keygate.Page{Limit: 100})
	check(tb, err)
	var got []string
	for _, ev := range events {
		got = append(got, ev.TargetID)
		if ev.Actor != "system:lifecycle" {
			tb.Errorf("%s of %s by %q, want system:lifecycle", action, ev.TargetID, ev.Actor)
		}
	}
	slices.Sort(got)
	ids = slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, ids) {
		tb.Errorf("audit %s: %v, want %v", action, got, ids)
	}
}

func testHMACCredentialLifecycleJobs(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ctx := keygate.WithActor(e.ctx, "system:lifecycle")
	c := e.consumer(t, "alice")
	day := 24 * time.Hour
	in3 := e.hmacCredentialExpiring(t, c, "in-3-days", 3*day)
	e.hmacCredentialExpiring(t, c, "in-20-days", 20*day)
	e.hmacCredentialExpiring(t, c, "never", 0)
	revoked := e.hmacCredentialExpiring(t, c, "revoked", 0)
	// Revoked before its notice was due: it gets none, and is archived
	// after its revoke.
	revokedSoon := e.hmacCredentialExpiring(t, c, "revoked-expiring", 2*day)
	for _, r := range []*keygate.HMACCredential{revoked, revokedSoon} {
		_, err := e.store.RevokeHMACCredential(e.ctx, r.ID)
		check(t, err)
	}
	e.changes.take()
	e.wantCounts(t, map[int]int{1: 5})

	t.Run("the expiry is stored, in UTC to the microsecond", func(t *testing.T) {
		want := e.clock.Now().Add(3 * day).UTC().Truncate(time.Microsecond)
		if in3.ExpiresAt == nil || !in3.ExpiresAt.Equal(want) || in3.ExpiresAt.Location() != time.UTC {
			t.Errorf("created with expires_at %v, want %v", in3.ExpiresAt, want)
		}
		found, err := e.store.FindHMACCredential(e.ctx, in3.ID)
		check(t, err)
		wantEqual(t, found, in3)
		looked, _, err := e.store.LookupHMACCredential(e.ctx, in3.Username)
		check(t, err)
		if looked.ExpiresAt == nil || !looked.ExpiresAt.Equal(want) {
			t.Errorf("looked up with expires_at %v, want %v", looked.ExpiresAt, want)
		}
		listed, _, err := e.store.ListHMACCredentials(e.ctx, keygate.HMACCredentialFilter{}, keygate.Page{})
		check(t, err)
		for _, l := range listed {
			if (l.ExpiresAt == nil) != (l.Username == "never" || l.Username == "revoked") {
				t.Errorf("%s listed with expires_at %v", l.Username, l.ExpiresAt)
			}
		}
	})

	t.Run("a limit below 1 is refused", func(t *testing.T) {
		_, err := e.store.NoticeExpiringHMACCredentials(ctx, e.clock.Now(), 0)
		wantError(t, err, keygate.EINVALID, "limit")
		_, err = e.store.ArchiveHMACCredentials(ctx, e.clock.Now(), 0)
		wantError(t, err, keygate.EINVALID, "limit")
		_, err = e.store.DestroyHMACCredentials(ctx, e.clock.Now(), 0)
		wantError(t, err, keygate.EINVALID, "limit")
	})

	t.Run("an expiry notice goes out once per credential", func(t *testing.T) {
		got, err := e.store.NoticeExpiringHMACCredentials(ctx, e.clock.Now().Add(14*day), 100)
		check(t, err)
		if want := []string{"in-3-days"}; !slices.Equal(usernames(got), want) {
			t.Fatalf("noticed %v, want %v", usernames(got), want)
		}
		if got[0].ID != in3.ID || got[0].Consumer.ID != c.ID || got[0].ExpiresAt == nil || !got[0].ExpiresAt.Equal(*in3.ExpiresAt) || got[0].Secret != nil {
			t.Errorf("noticed %+v", got[0])
		}
		again, err := e.store.NoticeExpiringHMACCredentials(ctx, e.clock.Now().Add(14*day), 100)
		check(t, err)
		if len(again) != 0 {
			t.Errorf("noticed again: %v", usernames(again))
		}
		e.wantChanges(t) // nothing a cache holds changed
	})

	var archivedAt time.Time
	t.Run("ended credentials are archived: data key destroyed, record kept", func(t *testing.T) {
		e.clock.Advance(4 * day) // in-3-days and revoked-expiring have ended; the revoked ones were revoked
		archivedAt = e.now()
		got, err := e.store.ArchiveHMACCredentials(ctx, e.clock.Now(), 100)
		check(t, err)
		if want := []string{"in-3-days", "revoked", "revoked-expiring"}; !slices.Equal(usernames(got), want) {
			t.Fatalf("archived %v, want %v", usernames(got), want)
		}
		var want []keygate.Change
		for _, a := range got {
			if a.Status != keygate.KeyArchived || a.Secret != nil {
				t.Errorf("%s archived as %s, secret %v", a.Username, a.Status, a.Secret)
			}
			want = append(want, keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, Action: "archived", ID: a.ID, Username: a.Username})
			// The record stays, as it was but for its status...
			found, err := e.store.FindHMACCredential(e.ctx, a.ID)
			check(t, err)
			wantEqual(t, found, a)
			// ...and its secret can no longer be had: the gateway does not
			// find it at all.
			_, _, err = e.store.LookupHMACCredential(e.ctx, a.Username)
			wantError(t, err, keygate.ENOTFOUND, "")
		}
		e.wantChanges(t, want...)
		// Crypto-shredding: their data keys are gone, the others' kept.
		e.wantCounts(t, map[int]int{1: 2})
		sealed, err := e.store.SealedBefore(e.ctx, 2, 100)
		check(t, err)
		for _, s := range sealed {
			if slices.ContainsFunc(got, func(a *keygate.HMACCredential) bool { return a.ID == s.ID }) {
				t.Errorf("the data key of archived %s is still there to rewrap", s.ID)
			}
		}
		e.wantAudit(t, "hmac_credential.archived", in3.ID, revoked.ID, revokedSoon.ID)

		again, err := e.store.ArchiveHMACCredentials(ctx, e.clock.Now(), 100)
		check(t, err)
		if len(again) != 0 {
			t.Errorf("archived again: %v", usernames(again))
		}
		e.wantChanges(t)
	})

	t.Run("revoking an archived credential leaves it archived", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		got, err := e.store.RevokeHMACCredential(e.ctx, in3.ID)
		check(t, err)
		if got.Status != keygate.KeyArchived || got.RevokedAt != nil {
			t.Errorf("after revoke: %s, revoked_at %v", got.Status, got.RevokedAt)
		}
		e.wantChanges(t, keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, Action: "revoked", ID: in3.ID, Username: in3.Username})
		if again, _ := e.store.ArchiveHMACCredentials(ctx, e.clock.Now(), 100); len(again) != 0 {
			t.Errorf("archived again after a revoke: %v", usernames(again))
		}
	})

	t.Run("archived credentials are destroyed after the retention period", func(t *testing.T) {
		n, err := e.store.DestroyHMACCredentials(ctx, archivedAt.Add(-time.Second), 100)
		check(t, err)
		if n != 0 {
			t.Fatalf("destroyed %d before the retention period", n)
		}
		e.clock.Advance(time.Hour)
		n, err = e.store.DestroyHMACCredentials(ctx, archivedAt, 100)
		check(t, err)
		if n != 3 {
			t.Fatalf("destroyed %d, want 3", n)
		}
		var want []keygate.Change
		for _, d := range []*keygate.HMACCredential{in3, revoked, revokedSoon} {
			e.wantNoHMACCredential(t, d)
			want = append(want, keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, Action: "destroyed", ID: d.ID, Username: d.Username})
		}
		e.wantChanges(t, want...)
		e.wantAudit(t, "hmac_credential.destroyed", in3.ID, revoked.ID, revokedSoon.ID)
		left, _, err := e.store.ListHMACCredentials(e.ctx, keygate.HMACCredentialFilter{}, keygate.Page{Limit: 100})
		check(t, err)
		if want := []string{"in-20-days", "never"}; !slices.Equal(usernames(left), want) {
			t.Errorf("left %v, want %v", usernames(left), want)
		}
		e.wantCounts(t, map[int]int{1: 2})
		if n, _ := e.store.DestroyHMACCredentials(ctx, e.clock.Now(), 100); n != 0 {
			t.Errorf("destroyed %d more", n)
		}
	})

	t.Run("a limit bounds each batch", func(t *testing.T) {
		d := e.consumer(t, "dora")
		for i := range 5 {
			e.hmacCredentialExpiring(t, d, fmt.Sprint("batch-", i), day)
		}
		for _, want := range []int{2, 2, 1, 0} {
			got, err := e.store.NoticeExpiringHMACCredentials(ctx, e.clock.Now().Add(2*day), 2)
			check(t, err)
			if len(got) != want {
				t.Errorf("noticed %d, want %d", len(got), want)
			}
		}
	})
}

// Nodes running the jobs at once each claim a credential once: one notice,
// one archival (one Change), one destruction.
func testHMACCredentialLifecycleConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	d := e.consumer(t, "dora")
	const n = 20
	for i := range n {
		e.hmacCredentialExpiring(t, d, fmt.Sprintf("soon-%02d", i), 24*time.Hour)
	}
	e.wantCounts(t, map[int]int{1: n})

	// race runs claim on 4 goroutines until each gets nothing back, and
	// returns how often each username was claimed.
	race := func(t *testing.T, claim func() ([]string, error)) map[string]int {
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := claim()
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, u := range got {
						seen[u]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return seen
	}
	once := func(t *testing.T, what string, seen map[string]int) {
		t.Helper()
		if len(seen) != n {
			t.Errorf("%s %d credentials, want %d", what, len(seen), n)
		}
		for u, k := range seen {
			if k != 1 {
				t.Errorf("%s %s %d times", what, u, k)
			}
		}
	}

	t.Run("notices", func(t *testing.T) {
		seen := race(t, func() ([]string, error) {
			got, err := e.store.NoticeExpiringHMACCredentials(e.ctx, e.clock.Now().Add(2*24*time.Hour), 3)
			return usernames(got), err
		})
		once(t, "noticed", seen)
	})
	t.Run("archival", func(t *testing.T) {
		e.clock.Advance(2 * 24 * time.Hour)
		e.changes.take()
		seen := race(t, func() ([]string, error) {
			got, err := e.store.ArchiveHMACCredentials(e.ctx, e.clock.Now(), 3)
			return usernames(got), err
		})
		once(t, "archived", seen)
		changes := map[string]int{}
		for _, ch := range e.changes.take() {
			if ch.Action == "archived" {
				changes[ch.Username]++
			}
		}
		once(t, "reported archived", changes)
		e.wantCounts(t, map[int]int{})
	})
	t.Run("destruction", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					k, err := e.store.DestroyHMACCredentials(e.ctx, e.clock.Now(), 3)
					if err != nil {
						t.Error(err)
						return
					}
					if k == 0 {
						return
					}
					mu.Lock()
					total += k
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if total != n {
			t.Errorf("destroyed %d in all, want %d", total, n)
		}
		destroyed := map[string]int{}
		for _, ch := range e.changes.take() {
			if ch.Op == keygate.Deleted && ch.Action == "destroyed" {
				destroyed[ch.Username]++
			}
		}
		once(t, "reported destroyed", destroyed)
	})
}
