package oauth2

import (
	"sync"
	"time"

	"github.com/keygate/keygate/accesstoken"
)

// DefaultTokenCacheTTL bounds how long a verified token is taken on its
// hash. What can change in that time is checked on every request anyway
// (the denylist, the client's and consumer's state); what cannot be is
// the removal of a signing key, which then takes up to this long to
// refuse the tokens it signed.
const DefaultTokenCacheTTL = 30 * time.Second

// maxCachedTokens bounds a route's cache; when full it starts over.
const maxCachedTokens = 10_000

// verified is a token that passed verification, and by which issuer.
type verified struct {
	claims *accesstoken.Claims
	issuer *issuer
}

type cachedToken struct {
	verified
	until int64 // unix nanos
}

// tokenCache remembers one route's verified tokens by SHA-256 of the
// token: a hit skips parsing and the signature check. nil: off.
type tokenCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[[32]byte]cachedToken
}

func newTokenCache(ttl time.Duration) *tokenCache {
	if ttl < 0 {
		return nil
	}
	if ttl == 0 {
		ttl = DefaultTokenCacheTTL
	}
	return &tokenCache{ttl: ttl, m: map[[32]byte]cachedToken{}}
}

func (c *tokenCache) get(sum [32]byte, now int64) (verified, bool) {
	if c == nil {
		return verified{}, false
	}
	c.mu.RLock()
	e, ok := c.m[sum]
	c.mu.RUnlock()
	if !ok || now >= e.until {
		return verified{}, false
	}
	return e.verified, true
}

// put remembers v until the token expires or the TTL ends, whichever is
// first (the expiry without leeway: a cached token is never taken later
// than a verification would).
func (c *tokenCache) put(sum [32]byte, v verified, now time.Time) {
	if c == nil {
		return
	}
	until := now.Add(c.ttl)
	if v.claims.Expiry.Before(until) {
		until = v.claims.Expiry
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedTokens {
		clear(c.m)
	}
	c.m[sum] = cachedToken{verified: v, until: until.UnixNano()}
	c.mu.Unlock()
}
