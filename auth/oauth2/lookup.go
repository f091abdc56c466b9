package oauth2

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate"
)

// Store is what the authenticator reads: the OAuth client a token names,
// and its consumer.
type Store interface {
	FindOAuthClient(ctx context.Context, ref string) (*keygate.OAuthClient, error)
	FindConsumer(ctx context.Context, ref string) (*keygate.Consumer, error)
}

// lookupTTL bounds how long a cached client or consumer (or its absence)
// is used: changes drop entries at once (Apply); the TTL only bounds the
// harm of a change that never arrives.
const (
	lookupTTL    = 5 * time.Minute
	notFoundTTL  = 10 * time.Second
	maxCacheSize = 100_000
)

type entry[T any] struct {
	v       *T // nil: not found
	expires int64
}

// cache is a small map of store answers by ref. It is cleared whole on a
// change of its kind: changes are rare, and a client may be cached under
// its id and its client_id, a consumer under its id and its username.
type cache[T any] struct {
	mu sync.RWMutex
	m  map[cacheKey]entry[T]
}

// cacheKey is a ref and what kind of ref it is (an id, a username, ...).
type cacheKey struct{ by, ref string }

func newCache[T any]() *cache[T] { return &cache[T]{m: map[cacheKey]entry[T]{}} }

func (c *cache[T]) get(ref cacheKey, now int64) (*T, bool) {
	c.mu.RLock()
	e, ok := c.m[ref]
	c.mu.RUnlock()
	if !ok || now >= e.expires {
		return nil, false
	}
	return e.v, true
}

func (c *cache[T]) put(ref cacheKey, v *T, now int64) {
	ttl := lookupTTL
	if v == nil {
		ttl = notFoundTTL
	}
	c.mu.Lock()
	if len(c.m) >= maxCacheSize {
		clear(c.m)
	}
	c.m[ref] = entry[T]{v: v, expires: now + int64(ttl)}
	c.mu.Unlock()
}

func (c *cache[T]) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// lookups finds clients and consumers through the caches.
type lookups struct {
	store     Store
	clients   *cache[keygate.OAuthClient]
	consumers *cache[keygate.Consumer]
	now       func() time.Time
}

func (l *lookups) client(ctx context.Context, clientID string) (*keygate.OAuthClient, error) {
	key, now := cacheKey{"client_id", clientID}, l.now().UnixNano()
	if c, ok := l.clients.get(key, now); ok {
		return c, nil
	}
	c, err := l.store.FindOAuthClient(ctx, clientID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		c, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c != nil && c.ClientID != clientID {
		c = nil // found by its record id: a token names a client_id
	}
	l.clients.put(key, c, now)
	return c, nil
}

// consumer finds a consumer by id or by username; by says which, so that
// a username never passes for an id or the reverse.
func (l *lookups) consumer(ctx context.Context, ref, by string) (*keygate.Consumer, error) {
	key, now := cacheKey{by, ref}, l.now().UnixNano()
	if c, ok := l.consumers.get(key, now); ok {
		return c, nil
	}
	c, err := l.store.FindConsumer(ctx, ref)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		c, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c != nil && (by == keygate.ConsumerByID && c.ID != ref || by == keygate.ConsumerByUsername && c.Username != ref) {
		c = nil
	}
	l.consumers.put(key, c, now)
	return c, nil
}

// apply drops what a change may have made stale.
func (l *lookups) apply(c keygate.Change) {
	switch c.Kind {
	case keygate.OAuthClientChanged:
		l.clients.clear()
	case keygate.ConsumerChanged:
		l.consumers.clear()
	}
}
