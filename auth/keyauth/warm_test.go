package keyauth_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/keyauth"
)

// use records a minute of usage for key rec at the fixture's clock.
func (f *fixture) use(tb testing.TB, rec *keygate.APIKey, at time.Time) {
	tb.Helper()
	err := f.store.AddUsage(context.Background(), []keygate.UsageRecord{
		{Minute: at.Truncate(time.Minute), ConsumerID: rec.Consumer.ID, CredentialID: rec.ID, RouteID: "r", Allowed: 1}})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestWarm: the keys used in the window are cached before any request, as
// a miss would have cached them (the same codes, no store read), the others
// are not, and the cache bound holds.
func TestWarm(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	var recent []string
	for range 5 {
		key, rec := f.issue(t, nil)
		f.use(t, rec, now.Add(-10*time.Minute))
		recent = append(recent, key)
	}
	revoked, revokedRec := f.issue(t, nil)
	f.use(t, revokedRec, now.Add(-time.Minute))
	if _, err := f.store.RevokeKey(context.Background(), revokedRec.ID); err != nil {
		t.Fatal(err)
	}
	scoped, scopedRec := f.issue(t, func(k *keygate.APIKey) { k.AllowedCIDRs = []string{"10.0.0.0/8"} })
	f.use(t, scopedRec, now)
	old, oldRec := f.issue(t, nil)
	f.use(t, oldRec, now.Add(-2*time.Hour))
	unused, _ := f.issue(t, nil)

	n, err := f.verifier.Warm(context.Background(), f.store, now.Add(-time.Hour), keyauth.WarmOptions{Batch: 2, Pause: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Errorf("Warm cached %d keys, want 7", n)
	}
	tests := []struct {
		name   string
		key    string
		target keygate.Target
		want   keygate.VerifyCode
		reads  int64 // store reads the request makes
	}{
		{"recently used", recent[0], keygate.Target{}, keygate.CodeValid, 0},
		{"recently used, last", recent[4], keygate.Target{}, keygate.CodeValid, 0},
		{"revoked since its use", revoked, keygate.Target{}, keygate.CodeRevoked, 0},
		{"restricted, outside", scoped, keygate.Target{IP: netip.MustParseAddr("192.0.2.1")}, keygate.CodeIPNotAllowed, 0},
		{"restricted, inside", scoped, keygate.Target{IP: netip.MustParseAddr("10.1.1.1")}, keygate.CodeValid, 0},
		{"used before the window", old, keygate.Target{}, keygate.CodeValid, 1},
		{"never used", unused, keygate.Target{}, keygate.CodeValid, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.lookups.reads.Load()
			if got := f.verify(t, tt.key, tt.target).Code; got != tt.want {
				t.Errorf("code %s, want %s", got, tt.want)
			}
			if reads := f.lookups.reads.Load() - before; reads != tt.reads {
				t.Errorf("%d store reads, want %d", reads, tt.reads)
			}
		})
	}

	t.Run("a cached entry is kept, a revoke still applies", func(t *testing.T) {
		// recent[0] is cached and verified now; warming again must not
		// replace it, and a revoke must still drop it.
		if _, err := f.verifier.Warm(context.Background(), f.store, now.Add(-time.Hour), keyauth.WarmOptions{}); err != nil {
			t.Fatal(err)
		}
		k, _ := f.format.Parse(recent[1])
		rec, _, err := f.store.LookupKey(context.Background(), k.Identifier())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.RevokeKey(context.Background(), rec.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.verify(t, recent[1], keygate.Target{}).Code; got != keygate.CodeRevoked {
			t.Errorf("code %s after the revoke, want REVOKED", got)
		}
	})

	t.Run("the cache bound holds", func(t *testing.T) {
		small := keyauth.NewVerifier(f.lookups, f.format, f.hasher, keyauth.Options{Now: f.clock.Now, CacheSize: 3})
		n, err := small.Warm(context.Background(), f.store, now.Add(-time.Hour), keyauth.WarmOptions{Batch: 2})
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("Warm cached %d keys into a cache of 3, want 3", n)
		}
	})
}

// racingStore applies an invalidation while a batch is being read, as a
// revoke committed on another node reaches this one mid-read.
type racingStore struct {
	keyauth.RecentKeys
	during func()
	reads  int
}

func (r *racingStore) RecentlyUsedKeys(ctx context.Context, since time.Time, after string, limit int) ([]keygate.KeyWithConsumer, error) {
	r.reads++
	got, err := r.RecentKeys.RecentlyUsedKeys(ctx, since, after, limit)
	if r.reads == 1 {
		r.during()
	}
	return got, err
}

// TestWarmInvalidatedMidRead: a batch read before a revoke that was applied
// while it was read is read again, so that the revoked key is not cached
// as active.
func TestWarmInvalidatedMidRead(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	key, rec := f.issue(t, nil)
	f.use(t, rec, now)
	store := &racingStore{RecentKeys: f.store, during: func() {
		if _, err := f.store.RevokeKey(context.Background(), rec.ID); err != nil { // applies to the verifier (OnChange)
			t.Fatal(err)
		}
	}}
	if _, err := f.verifier.Warm(context.Background(), store, now.Add(-time.Hour), keyauth.WarmOptions{}); err != nil {
		t.Fatal(err)
	}
	if store.reads != 2 {
		t.Errorf("%d reads of the batch, want 2", store.reads)
	}
	if got := f.verify(t, key, keygate.Target{}).Code; got != keygate.CodeRevoked {
		t.Errorf("code %s, want REVOKED", got)
	}
}
