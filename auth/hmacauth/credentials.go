package hmacauth

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keygate/keygate"
)

// Lookup is the one store read the cache needs.
type Lookup interface {
	LookupHMACCredential(ctx context.Context, username string) (*keygate.HMACCredential, *keygate.Consumer, error)
}

// Options tune the credential cache; zero values take the defaults.
type Options struct {
	// Now is the clock for cache lifetimes (default time.Now).
	Now func() time.Time
	// CacheSize bounds the number of cached usernames, found or not
	// (default 100,000).
	CacheSize int
	// HitTTL and MissTTL bound how long a credential or a miss is trusted
	// without invalidation (defaults 5 minutes and 1 minute). Changes made
	// through the store invalidate at once; the TTLs are a safety net.
	HitTTL, MissTTL time.Duration
	// LookupTimeout bounds one store read on a miss (default 5 seconds).
	LookupTimeout time.Duration
}

// Credentials caches HMAC credentials by username with their opened
// secrets, and misses, so that a verification costs no I/O on a hit.
//
// A plain map behind one RWMutex: unlike an API key check, which is a table
// lookup and a compare, a signature check is dominated by hashing, so the
// cache does not need keyauth's sharded open-addressing table.
//
// Secrets are kept in memory only, in buffers the cache owns; a request
// gets a copy (see secret) and an entry's buffer is zeroed when it leaves
// the cache.
type Credentials struct {
	store Lookup
	open  func(*keygate.Sealed) ([]byte, error)
	now   func() time.Time
	opts  Options
	loads singleflight.Group

	mu      sync.RWMutex
	entries map[string]*entry
	// gen changes on every invalidation, so that a load which read the
	// store before it does not put stale data back afterwards.
	gen uint64
}

// entry is what the cache knows about one username. cred is nil for a miss.
type entry struct {
	cred     *keygate.HMACCredential // without its sealed secret
	consumer *keygate.Consumer
	active   bool
	secret   []byte // opened; nil unless active
	expires  int64  // unix ns on the cache's clock
}

// NewCredentials returns a cache reading credentials from store and
// opening their secrets with open (the keyring's).
func NewCredentials(store Lookup, open func(*keygate.Sealed) ([]byte, error), opts Options) *Credentials {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
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
	return &Credentials{store: store, open: open, now: opts.Now, opts: opts, entries: map[string]*entry{}}
}

// credential is what a request learns about a username: found is false for
// no such credential or one that is not active, which are refused alike.
type credential struct {
	found    bool
	cred     *keygate.HMACCredential
	consumer *keygate.Consumer
}

// get returns the credential of username and appends a copy of its secret
// to dst, which the caller zeroes when done. It reads the store on a miss;
// an error is a store (or keyring) failure, never an unknown username.
func (c *Credentials) get(ctx context.Context, username string, dst []byte) (credential, []byte, error) {
	now := c.now().UnixNano()
	if cr, dst, ok, _ := c.cached(username, now, dst); ok {
		return cr, dst, nil
	}
	// A flight is shared only by requests that saw the same generation: one
	// arriving after an invalidation (a revoke that has returned) must not
	// get a read that began before it.
	for attempt := 0; ; attempt++ {
		_, _, _, gen := c.cached(username, now, nil)
		v, err, _ := c.loads.Do(username+"\x00"+strconv.FormatUint(gen, 36), func() (any, error) {
			return c.load(ctx, username, gen, now)
		})
		if err != nil {
			return credential{}, dst, err
		}
		// Copy the secret from the cache, which owns the buffers. Should an
		// invalidation have kept the load out of the cache, load again — but
		// not forever: a stream of unrelated changes would otherwise starve
		// this request, which may then use what it read.
		if cr, dst, ok, _ := c.cached(username, now, dst); ok {
			return cr, dst, nil
		}
		if attempt == 2 {
			e := v.(*entry)
			return e.credential(), append(dst, e.secret...), nil
		}
	}
}

// cached looks username up; ok is false on a miss or an expired entry. gen
// is the generation to load under.
func (c *Credentials) cached(username string, now int64, dst []byte) (cr credential, out []byte, ok bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.entries[username]
	if e == nil || now >= e.expires {
		return credential{}, dst, false, c.gen
	}
	return e.credential(), append(dst, e.secret...), true, c.gen
}

func (e *entry) credential() credential {
	return credential{found: e.active, cred: e.cred, consumer: e.consumer}
}

// load reads username from the store and caches the result unless the
// cache was invalidated since gen. The entry it returns is the cache's
// only when stored; otherwise the caller's alone.
func (c *Credentials) load(ctx context.Context, username string, gen uint64, now int64) (*entry, error) {
	// The read is shared by every waiting request, so it must not end when
	// the first of them goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.LookupTimeout)
	defer cancel()
	cred, consumer, err := c.store.LookupHMACCredential(ctx, username)
	var e *entry
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		e = &entry{expires: now + int64(c.opts.MissTTL)}
	case err != nil:
		return nil, keygate.Unavailable(err, "HMAC credential store unavailable")
	default:
		e = &entry{consumer: consumer, active: cred.Status == keygate.KeyActive, expires: now + int64(c.opts.HitTTL)}
		stripped := *cred
		stripped.Secret = nil // the cache keeps the opened secret, not the sealed one
		e.cred = &stripped
		if e.active {
			secret, err := c.open(cred.Secret)
			if err != nil {
				return nil, &keygate.Error{Code: keygate.EINTERNAL, Message: "HMAC credential secret cannot be opened", Cause: err}
			}
			e.secret = secret
		}
	}
	c.put(username, e, gen)
	return e, nil
}

func (c *Credentials) put(username string, e *entry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if old := c.entries[username]; old != nil {
		old.wipe()
	} else if len(c.entries) >= c.opts.CacheSize {
		c.evict()
	}
	// The cache keeps its own copy, which it may zero; the loaded one is
	// shared with the flight's waiters.
	stored := *e
	stored.secret = append([]byte(nil), e.secret...)
	c.entries[username] = &stored
}

// evict drops one entry to make room: an expired one if the first few
// looked at include one, else any. Map iteration order is random enough
// that made-up usernames cannot aim at a victim.
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

// wipe zeroes the secret. Only cache-owned entries are wiped, under the
// write lock, so no request is reading them.
func (e *entry) wipe() { clear(e.secret) }

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

// Len returns the number of cached usernames, found or not.
func (c *Credentials) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
