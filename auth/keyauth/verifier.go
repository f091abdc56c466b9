package keyauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sync/singleflight"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// KeyLookup is the one store read the verifier needs.
type KeyLookup interface {
	LookupKey(ctx context.Context, identifier string) (*keygate.APIKey, *keygate.Consumer, error)
}

// Options tune the verifier; zero values take the defaults.
type Options struct {
	// Now is the clock for expiry and cache lifetimes; by default a clock
	// with millisecond resolution that is cheap to read.
	Now func() time.Time
	// CacheSize bounds the number of cached keys (default 1,000,000); when
	// full, the keys least recently used go first (CLOCK).
	CacheSize int
	// MissCacheSize bounds the number of cached identifiers that have no key
	// (default CacheSize/10, at least 1,000), apart from the keys, so that a
	// flood of made-up identifiers cannot push keys out.
	MissCacheSize int
	// HitTTL and MissTTL bound how long a found key or a miss is trusted
	// without invalidation (defaults 5 minutes and 1 minute). Changes made
	// through the store invalidate at once; the TTLs are a safety net.
	HitTTL, MissTTL time.Duration
	// LookupTimeout bounds one store read on a miss (default 5 seconds).
	LookupTimeout time.Duration
	// StaleWindow is how long past its cache lifetime an entry is still
	// trusted while the store cannot be read (0: not at all), so that a
	// store outage does not stop the keys in use. Changes still invalidate
	// at once; a key not cached fails (503) rather than being refused.
	StaleWindow time.Duration
	// RetryAfter is how long, after a store read failed, requests that
	// miss the cache fail (or are served stale) at once instead of waiting
	// for the store again (default 1 second).
	RetryAfter time.Duration
	// Filter, when set, holds every issued identifier: a key whose
	// identifier it does not know is NOT_FOUND without a store read (but
	// for its small budget of reads) and leaves no miss in the cache.
	Filter *Filter
}

// Verifier checks API keys: format and checksum first, then the cache, then
// the store. It implements keygate.KeyVerifier.
type Verifier struct {
	now    func() int64 // unix nanoseconds
	store  KeyLookup
	format *apikey.Format
	hasher *apikey.Hasher
	opts   Options
	cache  *cache
	loads  singleflight.Group
	// consumers are shared by the cached keys of each consumer.
	consumers interner
	// storeDownUntil is when to try the store again after a read failed
	// (unix ns on the verifier's clock).
	storeDownUntil atomic.Int64
	// invalidations counts Apply and Flush calls, so that Preload can tell
	// whether one came while it read the store.
	invalidations atomic.Uint64
	// imported is set once this keygate has imported keys (see imported.go).
	imported atomic.Bool
}

var _ keygate.KeyVerifier = (*Verifier)(nil)

// NewVerifier returns a verifier reading keys from store.
func NewVerifier(store KeyLookup, format *apikey.Format, hasher *apikey.Hasher, opts Options) *Verifier {
	now := coarseNow
	if opts.Now != nil {
		now = func() int64 { return opts.Now().UnixNano() }
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1_000_000
	}
	if opts.MissCacheSize <= 0 {
		opts.MissCacheSize = max(opts.CacheSize/10, 1000)
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
	return &Verifier{now: now, store: store, format: format, hasher: hasher, opts: opts, cache: newCache(opts.CacheSize, opts.MissCacheSize)}
}

// VerifyKey checks raw against t. On a cache hit it does no I/O and no allocation.
func (v *Verifier) VerifyKey(ctx context.Context, raw string, t keygate.Target) (keygate.VerifyResult, error) {
	k, err := v.format.Parse(raw)
	if err == apikey.ErrMalformed {
		return v.verifyImported(ctx, raw, t) // MALFORMED unless it is one
	}
	if err != nil {
		return keygate.VerifyResult{Code: keygate.CodeMalformed}, nil
	}
	var id identifier
	copy(id[:], k.Identifier())
	v.cache.prefetch(&id) // with many keys its record comes from main memory while the secret is hashed
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(k.Secret()), len(k.Secret())))
	now := v.now()
	e, err := v.entry(ctx, &id, t.IP, now)
	if err != nil {
		return keygate.VerifyResult{}, err
	}
	if e.key == nil || !v.secretMatches(&id, &e, k, &sum) {
		return keygate.VerifyResult{Code: keygate.CodeNotFound}, nil
	}
	return keygate.VerifyResult{Code: e.check(t, now), Key: e.key, Consumer: e.consumer}, nil
}

// Apply is the store's change hook: it drops what a change makes stale.
func (v *Verifier) Apply(c keygate.Change) {
	v.invalidations.Add(1) // before the removal: see Preload
	switch {
	case c.Kind == keygate.KeyChanged:
		var id identifier
		if len(c.KeyIdentifier) == len(id) {
			copy(id[:], c.KeyIdentifier)
			v.cache.remove(&id)
		}
		v.opts.Filter.Apply(c)
		v.noteImported(c)
	case c.Kind == keygate.ConsumerChanged && c.Op != keygate.Created:
		// A new consumer has no keys yet, so nothing cached can be stale.
		v.cache.removeConsumer(c.ID)
		v.consumers.forget(c.ID)
	case c.Kind == keygate.RoleChanged && c.Op != keygate.Created:
		// Any key may hold the role, itself or through its consumer; roles
		// change rarely, so every key is read again rather than indexed by role.
		v.cache.clear()
	}
}

// Flush drops every cached key and miss: for when changes may have been
// missed (another node's, while the channel that carries them was down).
func (v *Verifier) Flush() {
	v.invalidations.Add(1)
	v.cache.clear()
	v.opts.Filter.Resync()
}

// CacheStats returns the key cache's counters, for metrics.
func (v *Verifier) CacheStats() CacheStats { return v.cache.stats() }

// Preload caches the keys that read returns, each exactly as a miss on it
// would have (found), unless the cache holds it already, and returns how
// many it cached. A store change applied while read ran may have been
// missed by it, so then the batch is read again (up to three times, then
// left to the miss path); entries cached since are never replaced.
func (v *Verifier) Preload(ctx context.Context, read func(context.Context) ([]keygate.KeyWithConsumer, error)) (int, error) {
	n := 0
	for range 3 {
		before := v.invalidations.Load()
		batch, err := read(ctx)
		if err != nil {
			return n, err
		}
		for _, kc := range batch {
			var id identifier
			if len(kc.Key.Identifier) != len(id) {
				continue // not a key this verifier could be asked for
			}
			copy(id[:], kc.Key.Identifier)
			now := v.now()
			if _, ok, gen := v.cache.peek(&id, now); !ok {
				e, err := v.found(kc.Key, kc.Consumer, now)
				if err != nil {
					continue // the miss path fails on it the same way
				}
				// An invalidation after this check bumps gen, so put refuses.
				if v.invalidations.Load() != before {
					break
				}
				v.cache.put(&id, e, gen)
				n++
			}
		}
		if v.invalidations.Load() == before {
			return n, nil
		}
	}
	return n, nil
}

// entry returns the cached entry for id, loading it from the store on a miss.
// Concurrent misses for one identifier share one store read — but only
// requests that saw the same cache generation: one arriving after an
// invalidation (a revoke that has returned) must not get a read that began
// before it.
func (v *Verifier) entry(ctx context.Context, id *identifier, ip netip.Addr, now int64) (entry, error) {
	e, ok, gen := v.cache.get(id, now)
	if ok {
		return e, nil
	}
	verdict := v.opts.Filter.check(id, ip, now)
	if verdict == filterRejected {
		return entry{}, nil // never issued (or not known here yet): NOT_FOUND, nothing cached
	}
	if now < v.storeDownUntil.Load() {
		return v.stale(id, now, errStoreDown)
	}
	loaded, err, _ := v.loads.Do(string(id[:])+strconv.FormatUint(gen, 36), func() (any, error) {
		if e, ok, g := v.cache.peek(id, now); ok && g == gen {
			return e, nil // a flight that just ended filled it
		}
		// The read is shared by every waiting request, so it must not end
		// when the first of them goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.LookupTimeout)
		defer cancel()
		key, consumer, err := v.store.LookupKey(ctx, string(id[:]))
		switch {
		case keygate.ErrorCode(err) == keygate.ENOTFOUND && verdict == filterRead:
			return entry{}, nil // a miss the filter foresaw is not cached: a flood would fill the cache
		// A stored hash of the wrong size matches no secret: the key is as
		// good as missing.
		case keygate.ErrorCode(err) == keygate.ENOTFOUND, err == nil && len(key.SecretHash) != sha256.Size:
			e = entry{expires: now + int64(v.opts.MissTTL)}
		case err != nil:
			return nil, keygate.Unavailable(err, "key store unavailable")
		default:
			if e, err = v.found(key, consumer, now); err != nil {
				return nil, err
			}
			if verdict == filterRead {
				v.opts.Filter.found(id) // created elsewhere, its change not here yet
			}
		}
		v.cache.put(id, e, gen)
		return e, nil
	})
	if keygate.ErrorCode(err) == keygate.EUNAVAILABLE {
		v.storeDownUntil.Store(now + int64(v.opts.RetryAfter))
		return v.stale(id, now, err)
	}
	if err != nil {
		return entry{}, err
	}
	return loaded.(entry), nil
}

// found is the entry for a key read from the store at now: what a miss
// caches, and Preload too.
func (v *Verifier) found(key *keygate.APIKey, consumer *keygate.Consumer, now int64) (entry, error) {
	cidrs, err := keygate.ParseCIDRs("allowed_cidrs", key.AllowedCIDRs)
	if err != nil {
		return entry{}, err
	}
	return newEntry(key, v.consumers.intern(consumer), cidrs, now+int64(v.opts.HitTTL)), nil
}

var errStoreDown = keygate.Unavailable(errors.New("a store read failed moments ago"), "key store unavailable")

// stale serves the entry for id past its lifetime, within StaleWindow,
// while the store cannot be read; otherwise it returns err.
func (v *Verifier) stale(id *identifier, now int64, err error) (entry, error) {
	// A miss is not served stale: a key created since may be what is asked
	// for, and the store cannot tell.
	if e, ok := v.cache.getStale(id, now, int64(v.opts.StaleWindow)); ok && e.key != nil {
		return e, nil
	}
	return entry{}, err
}

// secretMatches compares sum, the digest of the presented secret, with the
// verified one in constant time, or, before any request has proved it, the
// HMAC with the stored hash (which secretSum holds until then).
func (v *Verifier) secretMatches(id *identifier, e *entry, k apikey.Key, sum *[sha256.Size]byte) bool {
	if e.verified {
		return subtle.ConstantTimeCompare(sum[:], e.secretSum[:]) == 1
	}
	if !v.hasher.Verify(k, e.secretSum[:]) {
		return false
	}
	v.cache.markVerified(id, e.key, sum)
	return true
}

// check gives the key's state at now, then its restrictions against the
// target, then the target's permission query.
func (e *entry) check(t keygate.Target, now int64) keygate.VerifyCode {
	code := e.checkKey(t, now)
	if code == keygate.CodeValid && t.Permissions != nil && !t.Permissions.Allows(e.key.HeldPermissions()) {
		return keygate.CodeInsufficientPermissions
	}
	return code
}

func (e *entry) checkKey(t keygate.Target, now int64) keygate.VerifyCode {
	switch {
	case e.revoked:
		return keygate.CodeRevoked
	case e.keyExpires != 0 && now >= e.keyExpires:
		return keygate.CodeExpired
	case e.disabled:
		return keygate.CodeDisabled
	case e.nets.n > 0:
		if !e.nets.contains(t.IP.Unmap()) {
			return keygate.CodeIPNotAllowed
		}
	case e.restrictions != nil:
		return e.restrictions.check(t)
	}
	return keygate.CodeValid
}

// check fails closed: a restricted key checked without the target field it
// is restricted on (no service, no address) is refused.
func (r *restrictions) check(t keygate.Target) keygate.VerifyCode {
	switch {
	case !t.Unscoped && (len(r.Services) > 0 && !slices.Contains(r.Services, t.ServiceID) ||
		len(r.Routes) > 0 && !slices.Contains(r.Routes, t.RouteID)):
		return keygate.CodeForbidden
	case len(r.cidrs) > 0:
		ip := t.IP.Unmap()
		for _, p := range r.cidrs {
			if p.Contains(ip) {
				return keygate.CodeValid
			}
		}
		return keygate.CodeIPNotAllowed
	}
	return keygate.CodeValid
}

// unixNano is t.UnixNano, saturated: that overflows after the year 2262.
func unixNano(t time.Time) int64 {
	if t.After(maxUnixNano) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

var maxUnixNano = time.Unix(0, math.MaxInt64)
