package keyauth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingLookup counts the store reads the verifier makes.
type countingLookup struct {
	keyauth.KeyLookup
	reads atomic.Int64
}

func (c *countingLookup) LookupKey(ctx context.Context, id string) (*keygate.APIKey, *keygate.Consumer, error) {
	c.reads.Add(1)
	return c.KeyLookup.LookupKey(ctx, id)
}

// fixture is a real SQLite store wired to a verifier, as serve wires them.
type fixture struct {
	store    *sqlite.DB
	lookups  *countingLookup
	verifier *keyauth.Verifier
	format   *apikey.Format
	hasher   *apikey.Hasher
	clock    *clock
	consumer *keygate.Consumer
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{clock: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	var err error
	if f.format, err = apikey.NewFormat("kg_test", "kg_old"); err != nil {
		tb.Fatal(err)
	}
	if f.hasher, err = apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		tb.Fatal(err)
	}
	f.store, err = sqlite.Open(context.Background(), sqlitetest.Path(tb), sqlite.Options{
		Now:      f.clock.Now,
		OnChange: func(c keygate.Change) { f.verifier.Apply(c) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.store.Close() })
	f.lookups = &countingLookup{KeyLookup: f.store}
	f.verifier = keyauth.NewVerifier(f.lookups, f.format, f.hasher, keyauth.Options{Now: f.clock.Now})
	f.consumer = f.createConsumer(tb, "alice", "staff")
	return f
}

func (f *fixture) createConsumer(tb testing.TB, username string, groups ...string) *keygate.Consumer {
	tb.Helper()
	c := keygate.NewConsumer()
	c.Username, c.Groups = username, append([]string{}, groups...)
	if err := f.store.CreateConsumer(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// issue stores a new key for the fixture's consumer and returns it in full.
func (f *fixture) issue(tb testing.TB, edit func(*keygate.APIKey)) (string, *keygate.APIKey) {
	tb.Helper()
	k, err := f.format.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	sum := f.hasher.Hash(k)
	rec := &keygate.APIKey{
		Consumer: keygate.Ref{ID: f.consumer.ID}, Prefix: k.Prefix(), Start: k.Start(), Identifier: k.Identifier(),
		SecretHash: sum[:], Status: keygate.KeyActive,
		AllowedServices: []string{}, AllowedRoutes: []string{}, AllowedCIDRs: []string{}, Tags: []string{},
	}
	if edit != nil {
		edit(rec)
	}
	if err := f.store.CreateKey(context.Background(), rec); err != nil {
		tb.Fatal(err)
	}
	return k.Reveal(), rec
}

func (f *fixture) verify(tb testing.TB, key string, t keygate.Target) keygate.VerifyResult {
	tb.Helper()
	res, err := f.verifier.VerifyKey(context.Background(), key, t)
	if err != nil {
		tb.Fatalf("VerifyKey: %v", err)
	}
	return res
}
