package hmacauth

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/httpsig"
)

// Lookup is the one store read the cache needs.
type Lookup interface {
	LookupHMACCredential(ctx context.Context, username string) (*keygate.HMACCredential, *keygate.Consumer, error)
}

// Options tune the credential cache; zero values take the defaults.
type Options struct {
	// Now is the clock for cache lifetimes (default time.Now).
	Now func() time.Time
	// CacheSize bounds the number of cached credentials (default 100,000).
	CacheSize int
	// MissCacheSize bounds the number of cached unknown usernames (default
	// 10,000). Misses are kept apart, so that made-up usernames, which
	// anyone can send, never evict a credential.
	MissCacheSize int
	// HitTTL and MissTTL bound how long a credential or a miss is trusted
	// without invalidation (defaults 5 minutes and 1 minute). Changes made
	// through the store invalidate at once; the TTLs are a safety net.
	HitTTL, MissTTL time.Duration
	// LookupTimeout bounds one store read on a miss (default 5 seconds).
	LookupTimeout time.Duration
	// StaleWindow is how long past its cache lifetime a credential is still
	// trusted while the store cannot be read (0: not at all); RetryAfter how
	// long after a failed read requests fail (or are served stale) at once
	// instead of waiting for the store again (default 1 second). As for
	// API keys (keyauth.Options).
	StaleWindow, RetryAfter time.Duration
}

// Credentials caches HMAC credentials by username with their opened
// secrets, and misses, so that a verification costs no I/O on a hit.
//
// A plain map behind one RWMutex: unlike an API key check, which is a table
// lookup and a compare, a signature check is dominated by hashing, so the
// cache does not need keyauth's sharded open-addressing table.
//
// Secrets are kept in memory only, in buffers the cache owns (the one open
// returned), with the secret prepared for each algorithm it has been used
// with (httpsig.Algorithm.PrepareKey: two hash blocks fewer per request),
// which is as sensitive; a request gets a copy, which it zeroes, and an
// entry's buffers are zeroed when it leaves the cache or does not get in.
type Credentials struct {
	store Lookup
	open  func(*keygate.Sealed) ([]byte, error)
	now   func() time.Time
	opts  Options
	loads singleflight.Group

	mu      sync.RWMutex
	entries map[string]*entry // usernames found in the store
	misses  map[string]int64  // usernames not found, to their expiry (unix ns)
	// gen changes on every invalidation, so that a load which read the
	// store before it does not put stale data back afterwards.
	gen uint64
	// storeDownUntil is when to try the store again after a read failed
	// (unix ns).
	storeDownUntil atomic.Int64
}

// entry is what the cache knows about one credential.
type entry struct {
	cred     *keygate.HMACCredential // without its sealed secret
	consumer *keygate.Consumer
	active   bool
	secret   []byte // opened; nil unless active
	expires  int64  // unix ns on the cache's clock: when the entry goes stale
	// ends is when the credential itself stops working (its ExpiresAt),
	// unix ns; 0: never. Checked on every use, so that a cached credential
	// is refused from that instant, not when the entry goes stale.
	ends int64
	// prepared holds the secret prepared for each algorithm, made on the
	// algorithm's first use (under the read lock, so never while the entry
	// is wiped) and wiped with the secret.
	prepared [httpsig.HMACSHA512 + 1]atomic.Pointer[[]byte]
}

// NewCredentials returns a cache reading credentials from store and
// opening their secrets with open (the keyring's), which must return a
// buffer of its own: the cache keeps it and zeroes it when done.
func NewCredentials(store Lookup, open func(*keygate.Sealed) ([]byte, error), opts Options) *Credentials {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	if opts.MissCacheSize <= 0 {
		opts.MissCacheSize = 10_000
	}
	if opts.HitTTL <= 0 {
		opts.HitTTL = 5 * time.Minute
	}
	if opts.MissTTL <= 0 {
		opts.MissTTL = time.Minute
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = 5 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	return &Credentials{store: store, open: open, now: opts.Now, opts: opts, entries: map[string]*entry{}, misses: map[string]int64{}}
}

// credential is what a request learns about a username: found is false for
// no such credential or one that is not active or has expired, which are
// all refused alike.
type credential struct {
	found    bool
	cred     *keygate.HMACCredential
	consumer *keygate.Consumer
}

// get returns the credential of username and appends a copy of its secret
// to dst, which the caller zeroes when done. It reads the store on a miss;
// an error is a store (or keyring) failure, never an unknown username.
func (c *Credentials) get(ctx context.Context, username string, dst []byte) (credential, []byte, error) {
	return c.getAs(ctx, username, 0, dst)
}

// getPrepared is get with the secret prepared for alg
// (httpsig.Algorithm.PrepareKey), which a verifier computes MACs from.
func (c *Credentials) getPrepared(ctx context.Context, username string, alg httpsig.Algorithm, dst []byte) (credential, []byte, error) {
	return c.getAs(ctx, username, alg, dst)
}

// getAs is get with the secret as it is (alg 0) or prepared for alg.
func (c *Credentials) getAs(ctx context.Context, username string, alg httpsig.Algorithm, dst []byte) (credential, []byte, error) {
	now := c.now().UnixNano()
	if cr, dst, ok, _ := c.cached(username, now, alg, dst); ok {
		return cr, dst, nil
	}
	// Past the cache, username may be kept (misses, flights): the caller's
	// may view a request's memory.
	username = strings.Clone(username)
	if now < c.storeDownUntil.Load() {
		return c.stale(username, now, alg, dst, errStoreDown)
	}
	// A flight is shared only by requests that saw the same generation: one
	// arriving after an invalidation (a revoke that has returned) must not
	// get a read that began before it. The flight fills the cache; each
	// waiter copies the secret from there, so no opened secret outlives the
	// flight outside the cache, which zeroes it when the entry goes.
	for attempt := 0; attempt < 3; attempt++ {
		_, _, _, gen := c.cached(username, now, 0, nil)
		_, err, _ := c.loads.Do(username+"\x00"+strconv.FormatUint(gen, 36), func() (any, error) {
			return nil, c.load(ctx, username, gen, now)
		})
		if keygate.ErrorCode(err) == keygate.EUNAVAILABLE {
			c.storeDownUntil.Store(now + int64(c.opts.RetryAfter))
			return c.stale(username, now, alg, dst, err)
		}
		if err != nil {
			return credential{}, dst, err
		}
		if cr, dst, ok, _ := c.cached(username, now, alg, dst); ok {
			return cr, dst, nil
		}
	}
	// Invalidations kept each load out of the cache. Rather than wait on a
	// stream of unrelated changes, read for this request alone: what it
	// reads is as fresh as any.
	e, err := c.read(ctx, username, now)
	if err != nil || e == nil { // e nil: no such username
		return credential{}, dst, err
	}
	cr := e.credential(now)
	if cr.found {
		dst = e.appendSecret(dst, alg)
	}
	e.wipe()
	return cr, dst, nil
}

var errStoreDown = keygate.Unavailable(errors.New("a store read failed moments ago"), "HMAC credential store unavailable")

// stale serves a credential cached less than StaleWindow past its lifetime
// while the store cannot be read; otherwise it returns err. Misses are not
// served stale: a credential created since may be what is asked for.
func (c *Credentials) stale(username string, now int64, alg httpsig.Algorithm, dst []byte, err error) (credential, []byte, error) {
	if c.opts.StaleWindow <= 0 {
		return credential{}, dst, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.entries[username]
	if e == nil || now >= e.expires+int64(c.opts.StaleWindow) {
		return credential{}, dst, err
	}
	cr := e.credential(now)
	if cr.found {
		dst = e.appendSecret(dst, alg)
	}
	return cr, dst, nil
}

// cached looks username up, appending its secret as getAs does; ok is
// false when it is not cached or has expired. gen is the generation to
// load under.
func (c *Credentials) cached(username string, now int64, alg httpsig.Algorithm, dst []byte) (cr credential, out []byte, ok bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.entries[username]; e != nil && now < e.expires {
		cr := e.credential(now)
		if !cr.found {
			return cr, dst, true, c.gen // no secret for a credential that cannot be used
		}
		return cr, e.appendSecret(dst, alg), true, c.gen
	}
	if exp, hit := c.misses[username]; hit && now < exp {
		return credential{}, dst, true, c.gen
	}
	return credential{}, dst, false, c.gen
}

// appendSecret appends the secret (alg 0) or the secret prepared for alg,
// preparing it on first use. The read lock is held, or the entry has one
// owner: wipe, under the write lock, cannot run meanwhile.
func (e *entry) appendSecret(dst []byte, alg httpsig.Algorithm) []byte {
	if alg == 0 {
		return append(dst, e.secret...)
	}
	if p := e.prepared[alg].Load(); p != nil {
		return append(dst, *p...)
	}
	key := alg.PrepareKey(make([]byte, 0, alg.PreparedKeySize()), e.secret)
	if !e.prepared[alg].CompareAndSwap(nil, &key) { // another request was first
		clear(key)
	}
	return append(dst, *e.prepared[alg].Load()...)
}

// credential is the entry as a request at now sees it.
func (e *entry) credential(now int64) credential {
	return credential{found: e.active && (e.ends == 0 || now < e.ends), cred: e.cred, consumer: e.consumer}
}

// load reads username from the store and caches the result unless the
// cache was invalidated since gen.
func (c *Credentials) load(ctx context.Context, username string, gen uint64, now int64) error {
	e, err := c.read(ctx, username, now)
	if err != nil {
		return err
	}
	if e == nil {
		c.putMiss(username, now+int64(c.opts.MissTTL), gen)
		return nil
	}
	c.put(username, e, gen)
	return nil
}

// read reads username from the store and opens its secret into a buffer
// the returned entry owns (the caller stores or wipes it); nil, nil for no
// such username.
func (c *Credentials) read(ctx context.Context, username string, now int64) (*entry, error) {
	// The read is shared by every waiting request, so it must not end when
	// the first of them goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.LookupTimeout)
	defer cancel()
	cred, consumer, err := c.store.LookupHMACCredential(ctx, username)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, keygate.Unavailable(err, "HMAC credential store unavailable")
	}
	e := &entry{consumer: consumer, expires: now + int64(c.opts.HitTTL), ends: unixNanos(cred.ExpiresAt)}
	// An expired credential's secret is never opened: it cannot be used
	// again (expiry is not undone), so it need not be in memory either.
	// A disabled consumer's credentials are refused until it is enabled
	// again; the consumer's change drops this entry either way.
	e.active = cred.Status == keygate.KeyActive && (e.ends == 0 || now < e.ends) && (consumer == nil || keygate.IsEnabled(consumer.Enabled))
	stripped := *cred
	stripped.Secret = nil // the cache keeps the opened secret, not the sealed one
	e.cred = &stripped
	if e.active {
		secret, err := c.open(cred.Secret)
		if err != nil {
			clear(secret)
			return nil, &keygate.Error{Code: keygate.EINTERNAL, Message: "HMAC credential secret cannot be opened", Cause: err}
		}
		e.secret = secret
	}
	return e, nil
}

// unixNanos returns t in unix nanoseconds, 0 for nil; a time past what
// they can hold (the year 2262; the admin API refuses expiries that far)
// is treated as never.
func unixNanos(t *time.Time) int64 {
	if t == nil || t.After(maxNanosTime) {
		return 0
	}
	if t.UnixNano() <= 0 {
		return 1 // long past: expired, but not "never"
	}
	return t.UnixNano()
}

var maxNanosTime = time.Unix(0, math.MaxInt64)

// put caches e, which then owns its secret buffer; if the cache was
// invalidated since gen, e is not cached and its secret is zeroed.
func (c *Credentials) put(username string, e *entry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		e.wipe()
		return
	}
	delete(c.misses, username)
	if old := c.entries[username]; old != nil {
		old.wipe()
	} else if len(c.entries) >= c.opts.CacheSize {
		c.evict()
	}
	c.entries[username] = e
}

// putMiss caches that username does not exist, unless the cache was
// invalidated since gen. Misses have their own bound and evict only misses.
func (c *Credentials) putMiss(username string, expires int64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.misses[username]; !ok && len(c.misses) >= c.opts.MissCacheSize {
		now := c.now().UnixNano()
		var victim string
		n := 0
		for name, exp := range c.misses {
			victim = name
			if now >= exp || n == 8 {
				break
			}
			n++
		}
		delete(c.misses, victim)
	}
	c.misses[username] = expires
}

// evict drops one credential to make room: an expired one if the first few
// looked at include one, else any. Map iteration order is random enough
// that no one can aim at a victim; only credentials, which only admins
// create, compete for this room.
func (c *Credentials) evict() {
	now := c.now().UnixNano()
	var victim string
	n := 0
	for name, e := range c.entries {
		victim = name
		if now >= e.expires || n == 8 {
			break
		}
		n++
	}
	c.remove(victim)
}

// remove drops one entry; the write lock is held.
func (c *Credentials) remove(username string) {
	if e := c.entries[username]; e != nil {
		e.wipe()
		delete(c.entries, username)
	}
}

// wipe zeroes the secret and its prepared forms. Entries in the cache are
// wiped under the write lock, so no request is reading them; others have
// one owner.
func (e *entry) wipe() {
	clear(e.secret)
	for i := range e.prepared {
		if p := e.prepared[i].Load(); p != nil {
			clear(*p)
		}
	}
}

// Apply is the store's change hook: it drops what a change makes stale, so
// that a revoke or a deletion applies to the next request.
func (c *Credentials) Apply(ch keygate.Change) {
	switch {
	case ch.Kind == keygate.HMACCredentialChanged:
		c.mu.Lock()
		defer c.mu.Unlock()
		c.gen++
		if ch.Username != "" {
			c.remove(ch.Username)
			delete(c.misses, ch.Username)
		}
		// By id too: an update that renamed the credential reports its new
		// username, while the cache knows it by the old one.
		if ch.ID != "" && ch.Op != keygate.Created {
			for name, e := range c.entries {
				if e.cred != nil && e.cred.ID == ch.ID {
					c.remove(name)
				}
			}
		}
	case ch.Kind == keygate.ConsumerChanged && ch.Op != keygate.Created:
		// A new consumer has no credentials yet, so nothing cached is stale.
		c.mu.Lock()
		defer c.mu.Unlock()
		c.gen++
		for name, e := range c.entries {
			if e.consumer != nil && e.consumer.ID == ch.ID {
				c.remove(name)
			}
		}
	}
}

// Flush drops every cached credential and miss: for when changes may have
// been missed (another node's, while the channel that carries them was down).
func (c *Credentials) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for name := range c.entries {
		c.remove(name)
	}
	clear(c.misses)
}

// Len returns the number of cached usernames, found or not.
func (c *Credentials) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries) + len(c.misses)
}
