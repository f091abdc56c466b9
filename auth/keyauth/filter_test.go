package keyauth_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/postgres/pgtest"
	"github.com/keygate/keygate/sqlite"
)

// withFilter gives the fixture's verifier a filter built from its store.
func (f *fixture) withFilter(tb testing.TB, opts keyauth.FilterOptions) *keyauth.Filter {
	tb.Helper()
	filter := keyauth.NewFilter(f.store, opts)
	if err := filter.Rebuild(context.Background()); err != nil {
		tb.Fatal(err)
	}
	f.verifier = keyauth.NewVerifier(f.lookups, f.format, f.hasher, keyauth.Options{Now: f.clock.Now, Filter: filter})
	return filter
}

// fresh returns a well-formed key that was never issued.
func (f *fixture) fresh(tb testing.TB) string {
	tb.Helper()
	k, err := f.format.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	return k.Reveal()
}

func TestFilterRefusesUnknownIdentifiersWithoutRead(t *testing.T) {
	f := newFixture(t)
	before, _ := f.issue(t, nil) // in the first build
	revoked, revokedRec := f.issue(t, nil)
	f.withFilter(t, keyauth.FilterOptions{UnknownReads: -1})
	// The filter was built before this revoke: a revoked key must be found
	// (and refused as revoked), never taken for one not issued.
	if _, err := f.store.RevokeKey(context.Background(), revokedRec.ID); err != nil {
		t.Fatal(err)
	}
	after, _ := f.issue(t, nil) // added through the change hook

	t.Run("unknown identifiers are NOT_FOUND without a store read", func(t *testing.T) {
		reads := f.lookups.reads.Load()
		for range 1000 {
			if res := f.verify(t, f.fresh(t), keygate.Target{}); res.Code != keygate.CodeNotFound {
				t.Fatalf("code = %s, want NOT_FOUND", res.Code)
			}
		}
		// A false positive (0.4%) costs a read, as every miss did before.
		if n := f.lookups.reads.Load() - reads; n > 20 {
			t.Errorf("%d store reads for 1000 unknown identifiers, want at most 20 (false positives)", n)
		}
	})
	for _, tt := range []struct {
		name string
		key  string
		want keygate.VerifyCode
	}{
		{"a key of the build", before, keygate.CodeValid},
		{"a key created since, through the change hook", after, keygate.CodeValid},
		{"a key of the build revoked since", revoked, keygate.CodeRevoked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if res := f.verify(t, tt.key, keygate.Target{}); res.Code != tt.want {
				t.Errorf("code = %s, want %s", res.Code, tt.want)
			}
		})
	}
}

func TestFilterRevokedKeyStaysRevoked(t *testing.T) {
	f := newFixture(t)
	key, rec := f.issue(t, nil)
	if _, err := f.store.RevokeKey(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	f.withFilter(t, keyauth.FilterOptions{UnknownReads: -1})
	if res := f.verify(t, key, keygate.Target{}); res.Code != keygate.CodeRevoked {
		t.Errorf("code = %s, want REVOKED", res.Code)
	}
}

func TestFilterMissWithinBudgetIsNotCached(t *testing.T) {
	f := newFixture(t)
	f.withFilter(t, keyauth.FilterOptions{UnknownReads: 100})
	unknown := f.fresh(t)
	reads := f.lookups.reads.Load()
	for range 3 {
		if res := f.verify(t, unknown, keygate.Target{}); res.Code != keygate.CodeNotFound {
			t.Fatalf("code = %s, want NOT_FOUND", res.Code)
		}
	}
	// Without the filter the first read leaves a miss in the cache and the
	// next two are hits; with it no miss is cached, so each asks the budget.
	if n := f.lookups.reads.Load() - reads; n != 3 {
		t.Errorf("%d store reads, want 3 (one per request: no miss cached)", n)
	}
}

func TestFilterBudget(t *testing.T) {
	tests := []struct {
		name      string
		perSecond int
		addrs     int
		wantReads int64 // at most, per second
	}{
		{"one address gets the upper half and its tenth", 100, 1, 60},
		{"many addresses get all the node's", 100, 1000, 100},
		{"an IPv6 /64 is one address", 100, -1000, 60},
		{"none", -1, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			filter := f.withFilter(t, keyauth.FilterOptions{UnknownReads: tt.perSecond})
			addr := func(i int) netip.Addr {
				if tt.addrs < 0 {
					return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
				}
				return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			}
			n := max(tt.addrs, -tt.addrs)
			for second := range 3 {
				reads := f.lookups.reads.Load()
				for i := range 5000 {
					f.verify(t, f.fresh(t), keygate.Target{IP: addr(i % n)})
				}
				// False positives (0.4%) are read as before, outside the budget.
				if got := f.lookups.reads.Load() - reads; got > tt.wantReads+40 || got < tt.wantReads {
					t.Errorf("second %d: %d store reads for 5000 unknown identifiers, want %d (+ false positives)", second, got, tt.wantReads)
				}
				if tt.addrs == 1 || tt.addrs < 0 {
					// Another address still gets its read after the flood.
					reads := filter.Stats().UnknownReads
					f.verify(t, f.fresh(t), keygate.Target{IP: netip.MustParseAddr("198.51.100.1")})
					if filter.Stats().UnknownReads != reads+1 {
						t.Errorf("second %d: another address got no read after one address's flood", second)
					}
				}
				f.clock.Add(time.Second)
			}
			if st := filter.Stats(); st.Rejected < 3*(5000-tt.wantReads-40) {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

// TestFilterKeyFromAnotherNode is a key created on node A used on node B at
// once, before its change reaches B: B's filter does not know it, and the
// budget lets its one read through.
func TestFilterKeyFromAnotherNode(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kg.db")
		testKeyFromAnotherNode(t, func(tb testing.TB) keygate.Store {
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := pgtest.Schema(t, "filter")
		testKeyFromAnotherNode(t, func(tb testing.TB) keygate.Store {
			db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { db.Close() })
			return db
		})
	})
}

func testKeyFromAnotherNode(t *testing.T, open func(testing.TB) keygate.Store) {
	ctx := context.Background()
	a, b := open(t), open(t) // two nodes, one database; no change passes between them
	format, _ := apikey.NewFormat("kg_test")
	hasher, _ := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	reads := &countingLookup{KeyLookup: b}
	filter := keyauth.NewFilter(b, keyauth.FilterOptions{})
	if err := filter.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	onB := keyauth.NewVerifier(reads, format, hasher, keyauth.Options{Filter: filter})

	c := keygate.NewConsumer()
	c.Username = "alice"
	if err := a.CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	issue := func() string {
		k, _ := format.Generate()
		sum := hasher.Hash(k)
		rec := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Prefix: k.Prefix(), Start: k.Start(), Identifier: k.Identifier(),
			SecretHash: sum[:], Status: keygate.KeyActive}
		if err := a.CreateKey(ctx, rec); err != nil {
			t.Fatal(err)
		}
		return k.Reveal()
	}
	client := keygate.Target{IP: netip.MustParseAddr("192.0.2.7")}
	for i := range 5 {
		key := issue()
		res, err := onB.VerifyKey(ctx, key, client)
		if err != nil || res.Code != keygate.CodeValid {
			t.Fatalf("key %d created on A, used on B at once: %v %v, want VALID", i, res.Code, err)
		}
	}
	// Found, B's filter knows it now: it no longer needs the budget.
	key := issue()
	onB.VerifyKey(ctx, key, client)
	onB.Flush()
	before := filter.Stats().UnknownReads
	if res, _ := onB.VerifyKey(ctx, key, client); res.Code != keygate.CodeValid {
		t.Fatalf("again after a flush: %s", res.Code)
	}
	if n := filter.Stats().UnknownReads - before; n != 0 {
		t.Errorf("%d budget reads for a key B's store already found, want 0", n)
	}
}

// listed is an IdentifierLister over a slice; hold, when set, is called
// before each page.
type listed struct {
	mu   sync.Mutex
	ids  []string // sorted
	hold func()
}

func (l *listed) ListKeyIdentifiers(_ context.Context, after string, limit int) ([]string, error) {
	if l.hold != nil {
		l.hold()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i, found := slices.BinarySearch(l.ids, after)
	if found {
		i++
	}
	return slices.Clone(l.ids[i:min(i+limit, len(l.ids))]), nil
}

func (l *listed) add(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearch(l.ids, id)
	l.ids = slices.Insert(l.ids, i, id)
}

// TestFilterNeverForgets adds identifiers (as issued: stored, then
// announced) while builds run, and checks from other goroutines that an
// identifier once announced is never refused: the exact set must hold it
// until a build that listed it is in place.
func TestFilterNeverForgets(t *testing.T) {
	store := &listed{}
	filter := keyauth.NewFilter(store, keyauth.FilterOptions{RebuildAfter: 50})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if filter.Contains("never") != true {
		t.Error("an unbuilt filter must admit everything")
	}
	var wg sync.WaitGroup
	wg.Go(func() { filter.Run(ctx) })
	var announced atomic.Int64
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf("id%010d", rand.Uint64()%1e10)
	}
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(announced.Load())
				if n == 0 {
					continue
				}
				if id := ids[rand.IntN(n)]; !filter.Contains(id) {
					t.Errorf("announced %s refused", id)
					cancel()
				}
			}
		})
	}
	for i, id := range ids {
		store.add(id)
		filter.Apply(keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, KeyIdentifier: id})
		announced.Store(int64(i + 1))
		if i%500 == 0 {
			filter.Resync()
		}
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if st := filter.Stats(); !st.Built || st.Keys == 0 || st.Recent > 2000 {
		t.Errorf("stats: %+v, want builds that took the recent identifiers in", st)
	}
	rejected := 0
	for i := range 10000 {
		if !filter.Contains(fmt.Sprintf("other%d", i)) {
			rejected++
		}
	}
	if rejected < 9900 {
		t.Errorf("%d of 10000 unknown identifiers rejected", rejected)
	}
}
