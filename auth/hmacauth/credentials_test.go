package hmacauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/httpsig"
)

func TestCredentialsCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	get := func(username string) (credential, string) {
		t.Helper()
		cr, secret, err := f.creds.get(ctx, username, nil)
		if err != nil {
			t.Fatalf("get(%q): %v", username, err)
		}
		return cr, string(secret)
	}
	cr, secret := get(testUser)
	if !cr.found || secret != testSecret || cr.cred.Username != testUser || cr.consumer.ID != "c1" || cr.cred.Secret != nil {
		t.Errorf("got %+v %q", cr, secret)
	}
	get(testUser)
	if n := f.store.reads.Load(); n != 1 {
		t.Errorf("%d reads for two gets", n)
	}

	// Misses are cached, for MissTTL.
	for range 3 {
		if cr, _ := get("nobody"); cr.found {
			t.Error("nobody found")
		}
	}
	if n := f.store.reads.Load(); n != 2 {
		t.Errorf("%d reads after three misses", n)
	}
	f.clock.Add(time.Minute)
	get("nobody")
	if n := f.store.reads.Load(); n != 3 {
		t.Errorf("%d reads after the miss expired", n)
	}
	// Creating the credential drops the cached miss.
	f.store.add("nobody", "s2", "c2")
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Created, ID: "id-nobody", Username: "nobody"})
	if cr, secret := get("nobody"); !cr.found || secret != "s2" {
		t.Errorf("after creation: %+v %q", cr, secret)
	}

	// Hits are trusted for HitTTL.
	f.clock.Add(5 * time.Minute)
	before := f.store.reads.Load()
	get(testUser)
	if n := f.store.reads.Load(); n != before+1 {
		t.Errorf("no read after HitTTL")
	}

	// A renamed credential is dropped by id.
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-" + testUser, Username: "renamed"})
	if f.creds.Len() != 1 { // nobody only
		t.Errorf("%d entries after rename", f.creds.Len())
	}
	// Unrelated kinds change nothing.
	f.creds.Apply(keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: "c2"})
	f.creds.Apply(keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Created, ID: "c2"})
	if f.creds.Len() != 1 {
		t.Errorf("%d entries after unrelated changes", f.creds.Len())
	}
	f.creds.Apply(keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: "c2"})
	if f.creds.Len() != 0 {
		t.Errorf("%d entries after the consumer's deletion", f.creds.Len())
	}
}

// While the store cannot be read, a cached credential keeps working for the
// stale window past its cache lifetime; an uncached one fails (an error,
// 503), and the store is not asked again for a moment.
func TestCredentialsServedStaleWhileTheStoreIsDown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.store.add("other", "s2", "c1")
	f.creds = NewCredentials(f.store, openIdentity, Options{Now: f.clock.Now, HitTTL: time.Minute, StaleWindow: 10 * time.Minute})
	if _, _, err := f.creds.get(ctx, testUser, nil); err != nil {
		t.Fatal(err)
	}
	f.store.mu.Lock()
	f.store.err = errors.New("store down")
	f.store.mu.Unlock()
	f.clock.Add(5 * time.Minute)

	cr, secret, err := f.creds.get(ctx, testUser, nil)
	if err != nil || !cr.found || string(secret) != testSecret {
		t.Fatalf("cached credential while the store is down: %+v %v; want it served stale", cr, err)
	}
	if _, _, err := f.creds.get(ctx, "other", nil); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Fatalf("uncached credential: %v; want EUNAVAILABLE", err)
	}
	reads := f.store.reads.Load()
	for range 3 {
		f.creds.get(ctx, "other", nil)
	}
	if got := f.store.reads.Load(); got != reads {
		t.Errorf("%d store reads right after one failed; want none for RetryAfter", got-reads)
	}
	f.clock.Add(6 * time.Minute)
	if _, _, err := f.creds.get(ctx, testUser, nil); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Fatalf("past the stale window: %v; want EUNAVAILABLE", err)
	}
}

func TestCredentialsSingleFlight(t *testing.T) {
	f := newFixture(t, nil)
	f.store.block = make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			cr, secret, err := f.creds.get(context.Background(), testUser, nil)
			if err == nil && (!cr.found || string(secret) != testSecret) {
				err = errors.New("wrong credential")
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(f.store.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.reads.Load(); n != 1 {
		t.Errorf("%d store reads for 50 concurrent misses", n)
	}
}

// A load that read the store before a revoke must not put the credential
// back after it.
func TestCredentialsLoadRacingRevoke(t *testing.T) {
	f := newFixture(t, nil)
	read, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.store.afterRead = func() {
		once.Do(func() { // only the first read waits
			close(read)
			<-release
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.creds.get(context.Background(), testUser, nil) // may see the credential: it began first
	}()
	<-read
	f.store.revoke(testUser)
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-" + testUser, Username: testUser})
	close(release)
	<-done
	cr, _, err := f.creds.get(context.Background(), testUser, nil)
	if err != nil || cr.found {
		t.Errorf("after the revoke: %+v %v", cr, err)
	}
}

func TestCredentialsBounded(t *testing.T) {
	f := newFixture(t, nil)
	f.creds = NewCredentials(f.store, openIdentity, Options{Now: f.clock.Now, CacheSize: 10})
	for i := range 20 {
		name := "user" + strconv.Itoa(i)
		f.store.add(name, "secret-"+name, "c1")
		if _, _, err := f.creds.get(context.Background(), name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.creds.Len(); n > 10 {
		t.Errorf("%d entries, bound 10", n)
	}
	f.creds = NewCredentials(f.store, openIdentity, Options{Now: f.clock.Now, MissCacheSize: 10})
	for i := range 50 {
		f.creds.get(context.Background(), "missing"+strconv.Itoa(i), nil)
	}
	if n := f.creds.Len(); n > 10 {
		t.Errorf("%d misses, bound 10", n)
	}
}

// Made-up usernames, which anyone can send, never push a credential out:
// misses have their own room.
func TestCredentialsMissesDoNotEvictHits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.creds = NewCredentials(f.store, openIdentity, Options{Now: f.clock.Now, CacheSize: 10, MissCacheSize: 5})
	var names []string
	for i := range 10 {
		name := "user" + strconv.Itoa(i)
		names = append(names, name)
		f.store.add(name, "secret-"+name, "c1")
		if _, _, err := f.creds.get(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		if cr, _, err := f.creds.get(ctx, "made-up-"+strconv.Itoa(i), nil); err != nil || cr.found {
			t.Fatalf("made-up username: %+v %v", cr, err)
		}
	}
	before := f.store.reads.Load()
	for _, name := range names {
		if cr, secret, err := f.creds.get(ctx, name, nil); err != nil || !cr.found || string(secret) != "secret-"+name {
			t.Fatalf("%s: %+v %q %v", name, cr, secret, err)
		}
	}
	if n := f.store.reads.Load() - before; n != 0 {
		t.Errorf("%d of 10 credentials evicted by misses", n)
	}
	if n := f.creds.Len(); n != 15 {
		t.Errorf("%d entries, want 10 credentials and 5 misses", n)
	}
}

// The opened secret is the cache's own buffer, zeroed when it goes; one
// that an invalidation keeps out of the cache is zeroed at once. No
// opened copy is left behind in memory.
func TestCredentialsOpenedSecretsZeroed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	var mu sync.Mutex
	var opened [][]byte
	open := func(s *keygate.Sealed) ([]byte, error) {
		b, err := openIdentity(s)
		mu.Lock()
		opened = append(opened, b)
		mu.Unlock()
		return b, err
	}
	zeroed := func(b []byte) bool {
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
		return true
	}
	f.creds = NewCredentials(f.store, open, Options{Now: f.clock.Now})
	if _, _, err := f.creds.get(ctx, testUser, nil); err != nil {
		t.Fatal(err)
	}
	f.creds.mu.RLock()
	cached := f.creds.entries[testUser].secret
	f.creds.mu.RUnlock()
	if len(opened) != 1 || &opened[0][0] != &cached[0] {
		t.Fatalf("the cache holds a copy of what open returned, which stays in memory")
	}
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-" + testUser, Username: testUser})
	if !zeroed(opened[0]) {
		t.Error("secret not zeroed when dropped")
	}

	// Every load raced by an invalidation: nothing is cached, and each
	// opened secret is zeroed once the request has its copy.
	opened = nil
	f.store.afterRead = func() {
		f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-other", Username: "other"})
	}
	cr, secret, err := f.creds.get(ctx, testUser, nil)
	if err != nil || !cr.found || string(secret) != testSecret {
		t.Fatalf("get: %+v %q %v", cr, secret, err)
	}
	if len(opened) == 0 {
		t.Fatal("nothing opened")
	}
	for i, b := range opened {
		if !zeroed(b) {
			t.Errorf("opened secret %d of %d left in memory: %q", i+1, len(opened), b)
		}
	}
	// The same for a username that does not exist.
	if cr, _, err := f.creds.get(ctx, "nobody", nil); err != nil || cr.found {
		t.Errorf("unknown username: %+v %v", cr, err)
	}
}

func TestCredentialsSecretWipedOnEviction(t *testing.T) {
	f := newFixture(t, nil)
	if _, _, err := f.creds.get(context.Background(), testUser, nil); err != nil {
		t.Fatal(err)
	}
	f.creds.mu.RLock()
	buf := f.creds.entries[testUser].secret
	f.creds.mu.RUnlock()
	if string(buf) != testSecret {
		t.Fatalf("cached secret %q", buf)
	}
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: "id-" + testUser, Username: testUser})
	for _, b := range buf {
		if b != 0 {
			t.Fatalf("secret not wiped: %q", buf)
		}
	}
}

// getPrepared gives the secret prepared for the algorithm asked, made
// once per credential and algorithm and kept with the secret, and wiped
// with it when the credential leaves the cache.
func TestCredentialsPreparedKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	for range 2 { // prepared on first use, then copied
		for alg := httpsig.HMACSHA1; alg <= httpsig.HMACSHA512; alg++ {
			cr, key, err := f.creds.getPrepared(ctx, testUser, alg, []byte("prefix"))
			want := alg.PrepareKey([]byte("prefix"), []byte(testSecret))
			if err != nil || !cr.found || !bytes.Equal(key, want) {
				t.Fatalf("%s: %+v, %d bytes, %v", alg, cr, len(key), err)
			}
		}
	}
	f.creds.mu.RLock()
	e := f.creds.entries[testUser]
	f.creds.mu.RUnlock()
	kept := *e.prepared[httpsig.HMACSHA256].Load()
	if _, key, _ := f.creds.getPrepared(ctx, testUser, httpsig.HMACSHA256, nil); &key[0] == &kept[0] {
		t.Fatal("a request got the cache's buffer, not a copy")
	}
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: "id-" + testUser, Username: testUser})
	for alg := httpsig.HMACSHA1; alg <= httpsig.HMACSHA512; alg++ {
		if p := *e.prepared[alg].Load(); !bytes.Equal(p, make([]byte, len(p))) {
			t.Errorf("%s: prepared key not wiped", alg)
		}
	}
}

// Requests preparing keys for every algorithm at once, while changes drop
// and reload the credential, each get the right key: a prepared key is
// made and published once, and never wiped while a request copies it.
func TestCredentialsPreparedKeysConcurrently(t *testing.T) {
	f := newFixture(t, nil)
	var want [httpsig.HMACSHA512 + 1][]byte
	for alg := httpsig.HMACSHA1; alg <= httpsig.HMACSHA512; alg++ {
		want[alg] = alg.PrepareKey(nil, []byte(testSecret))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				alg := httpsig.Algorithm(1 + (g+i)%4)
				cr, key, err := f.creds.getPrepared(context.Background(), testUser, alg, nil)
				if err == nil && (!cr.found || !bytes.Equal(key, want[alg])) {
					err = fmt.Errorf("%s: wrong key", alg)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-" + testUser, Username: testUser})
			time.Sleep(100 * time.Microsecond)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCredentialsOpenFailure(t *testing.T) {
	f := newFixture(t, nil)
	f.creds = NewCredentials(f.store, func(*keygate.Sealed) ([]byte, error) { return nil, errors.New("keyring version retired") },
		Options{Now: f.clock.Now})
	_, _, err := f.creds.get(context.Background(), testUser, nil)
	if keygate.ErrorCode(err) != keygate.EINTERNAL || f.creds.Len() != 0 {
		t.Errorf("err = %v, %d entries", err, f.creds.Len())
	}
}

func TestReplayCache(t *testing.T) {
	c := &clock{now: testTime}
	r := NewReplayCache(ReplayOptions{Now: c.Now, MaxEntries: replayShards * 4, SweepInterval: time.Hour})
	ctx := context.Background()
	seen := func(key string, until time.Time) bool {
		t.Helper()
		s, err := r.Seen(ctx, "cred-"+key, key, until)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen("a", testTime.Add(time.Minute)) || !seen("a", testTime.Add(time.Minute)) {
		t.Error("a not remembered")
	}
	c.Add(time.Minute)
	if seen("a", testTime.Add(2*time.Minute)) {
		t.Error("a remembered past its expiry")
	}
	// Fill up: past the bound the cache refuses rather than forgets.
	var full error
	var accepted []string
	for i := 0; i < replayShards*8 && full == nil; i++ {
		key := "k" + strconv.Itoa(i)
		if _, full = r.Seen(ctx, "cred-"+key, key, c.Now().Add(time.Minute)); full == nil {
			accepted = append(accepted, key)
		}
	}
	if !errors.Is(full, ErrReplayCacheFull) {
		t.Fatalf("no ErrReplayCacheFull: %v", full)
	}
	if n := r.Len(); n > replayShards*4 {
		t.Errorf("%d entries, bound %d", n, replayShards*4)
	}
	// Once they expire, a full shard sweeps and takes them again.
	c.Add(2 * time.Minute)
	for _, key := range accepted {
		if seen, err := r.Seen(ctx, "cred-"+key, key, c.Now().Add(time.Minute)); err != nil || seen {
			t.Fatalf("after expiry: %v %v", seen, err)
		}
	}
}

// The replay cache's tables agree with a map of signatures to expiries
// through random signatures, replays, expiries and sweeps (with tables
// small enough that probe runs wrap around their end), and keep their
// invariant: every entry is reached from its place without crossing an
// empty slot, and n counts them.
func TestReplayCacheAgainstMap(t *testing.T) {
	c := &clock{now: testTime}
	r := NewReplayCache(ReplayOptions{Now: c.Now, MaxEntries: 1 << 16, SweepInterval: 3 * time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]time.Time{} // key to expiry
	checkTables := func(step int) {
		t.Helper()
		for si := range r.shards {
			s := &r.shards[si]
			n := 0
			for i, e := range s.slots {
				if e.tag == 0 {
					continue
				}
				n++
				if j, ok := s.find(e.tag); !ok || j != i {
					t.Fatalf("step %d, shard %d: the entry in slot %d of %d is not found (%d %v)", step, si, i, len(s.slots), j, ok)
				}
			}
			if s.published.first.Load() != &s.slots[0] || s.published.mask.Load() != uint64(len(s.slots)-1) {
				t.Fatalf("step %d, shard %d: the table published for prefetch is not the table", step, si)
			}
			if n != s.n || 2*n > len(s.slots) {
				t.Fatalf("step %d, shard %d: %d entries, n %d, %d slots", step, si, n, s.n, len(s.slots))
			}
		}
	}
	for step := range 30000 {
		c.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		key := "k" + strconv.Itoa(rng.IntN(4000))
		until := c.Now().Add(time.Duration(1+rng.IntN(20000)) * time.Millisecond)
		exp, had := model[key]
		want := had && c.Now().Before(exp)
		got, err := r.Seen(context.Background(), "cred-"+strconv.Itoa(rng.IntN(3)), key, until)
		if err != nil || got != want {
			t.Fatalf("step %d, %s: seen %v %v, want %v", step, key, got, err, want)
		}
		if !want {
			model[key] = until
		}
		if step%1000 == 0 {
			checkTables(step)
		}
	}
	checkTables(-1)
	// Every credential's count is its unexpired or unswept entries.
	c.Add(time.Hour)
	for i := range r.shards {
		r.shards[i].mu.Lock()
		r.dropExpired(&r.shards[i], c.Now().UnixNano())
		r.shards[i].mu.Unlock()
	}
	checkTables(-2)
	for i := range r.owners {
		if len(r.owners[i].n) != 0 {
			t.Errorf("owner shard %d still counts %v", i, r.owners[i].n)
		}
	}
	if r.Len() != 0 {
		t.Errorf("%d entries after all expired", r.Len())
	}
}
