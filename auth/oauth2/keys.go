package oauth2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
)

// Bounds of how long a fetched JWKS is used before it is fetched again
// (in the background: the old keys serve meanwhile). A provider's
// Cache-Control max-age is followed within them.
const (
	DefaultJWKSMaxAge = 10 * time.Minute
	MinJWKSMaxAge     = time.Minute
	MaxJWKSMaxAge     = 24 * time.Hour
	// DefaultRefreshInterval is the least time between two fetches
	// caused by tokens with unknown key ids: a flood of made-up kids costs
	// the issuer one request per interval, not one per token.
	DefaultRefreshInterval = 10 * time.Second
	// LocalKeysMaxAge is how long the local key set is used before it is
	// read again, so that a key deleted by hand stops verifying.
	LocalKeysMaxAge = 5 * time.Minute
	maxJWKSSize     = 256 << 10
	fetchTimeout    = 5 * time.Second
)

// errNoKeys: the key source has never loaded (issuer unreachable, store
// down): a technical failure, not the token's fault.
var errNoKeys = errors.New("no verification keys loaded")

// loadFunc reads a key set and how long it may be used.
type loadFunc func(ctx context.Context) (accesstoken.KeySource, time.Duration, error)

// keySet is one loaded set; its address tells one load from the next.
type keySet struct{ accesstoken.KeySource }

// keySource is one issuer's published keys, cached. Lookups are lock
// free; loads are one at a time, on expiry in the background and on an
// unknown kid in the foreground, at most once per refreshEvery.
type keySource struct {
	name         string // for logs: "local" or the JWKS URL
	load         loadFunc
	refreshEvery time.Duration
	now          func() time.Time
	logger       *slog.Logger

	keys      atomic.Pointer[keySet]
	expires   atomic.Int64 // unix nanos; 0: never loaded
	lastLoad  atomic.Int64 // unix nanos of the last load attempt
	bgRunning atomic.Bool
	mu        sync.Mutex // one load at a time
	loads     atomic.Int64
}

func newKeySource(name string, load loadFunc, refreshEvery time.Duration, now func() time.Time, logger *slog.Logger) *keySource {
	return &keySource{name: name, load: load, refreshEvery: refreshEvery, now: now, logger: logger}
}

// current returns the keys to verify with, loading them first if there
// are none yet. An expired set is still returned, and reloaded in the
// background.
func (s *keySource) current(ctx context.Context) (*keySet, error) {
	k := s.keys.Load()
	if k == nil {
		s.refresh(ctx, nil)
		if k = s.keys.Load(); k == nil {
			return nil, errNoKeys
		}
		return k, nil
	}
	if s.now().UnixNano() >= s.expires.Load() && s.bgRunning.CompareAndSwap(false, true) {
		go func() {
			defer s.bgRunning.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			defer cancel()
			s.reload(ctx, true)
		}()
	}
	return k, nil
}

// refresh reloads the keys after a token named a kid that seen lacks.
// It reports whether there are newer keys than seen to try: loaded by this
// call or by another one meanwhile.
func (s *keySource) refresh(ctx context.Context, seen *keySet) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys.Load(); k != seen {
		return k != nil
	}
	if last := s.lastLoad.Load(); last != 0 && s.now().UnixNano()-last < int64(s.refreshEvery) {
		return false
	}
	return s.reloadLocked(ctx)
}

func (s *keySource) reload(ctx context.Context, background bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if background && s.now().UnixNano() < s.expires.Load() {
		return // another load got there first
	}
	s.reloadLocked(ctx)
}

func (s *keySource) reloadLocked(ctx context.Context) bool {
	now := s.now()
	s.lastLoad.Store(now.UnixNano())
	s.loads.Add(1)
	keys, maxAge, err := s.load(ctx)
	if err != nil {
		// The keys held (if any) keep verifying; the next expiry or
		// unknown kid tries again.
		s.logger.Warn("oauth2: loading verification keys failed", "issuer_keys", s.name, "error", err)
		if s.keys.Load() != nil {
			// Not again before refreshEvery: an outage must not turn every
			// request into a fetch.
			s.expires.Store(now.Add(s.refreshEvery).UnixNano())
		}
		return false
	}
	s.keys.Store(&keySet{keys})
	s.expires.Store(now.Add(maxAge).UnixNano())
	return true
}

// LocalKeys loads the node's own signing keys' public halves from the
// store (accesstoken.Load with the keyring).
func LocalKeys(store keygate.SecretStore, ring accesstoken.Sealer) func(ctx context.Context) (*accesstoken.PublicKeys, error) {
	return func(ctx context.Context) (*accesstoken.PublicKeys, error) {
		set, err := accesstoken.Load(ctx, store, ring)
		if err != nil {
			return nil, err
		}
		return set.PublicKeys(), nil
	}
}

// fetchJWKS gets and parses a JWKS document, and how long to use it.
func fetchJWKS(client *http.Client, uri string) loadFunc {
	return func(ctx context.Context) (accesstoken.KeySource, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			return nil, 0, fmt.Errorf("jwks: %s answered %d", uri, resp.StatusCode)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
		if err != nil {
			return nil, 0, fmt.Errorf("jwks: %w", err)
		}
		if len(body) > maxJWKSSize {
			return nil, 0, fmt.Errorf("jwks: %s: larger than %d bytes", uri, maxJWKSSize)
		}
		keys, err := parseExternalJWKS(body)
		if err != nil {
			return nil, 0, err
		}
		return keys, maxAge(resp.Header.Get("Cache-Control")), nil
	}
}

// maxAge reads Cache-Control's max-age, within [MinJWKSMaxAge,
// MaxJWKSMaxAge]: no-store or no-cache do not make the gateway fetch on
// every token, and a year does not keep a removed key for a year.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return MinJWKSMaxAge
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || n < 0 {
				return DefaultJWKSMaxAge
			}
			if n > int64(MaxJWKSMaxAge/time.Second) {
				return MaxJWKSMaxAge
			}
			return max(time.Duration(n)*time.Second, MinJWKSMaxAge)
		}
	}
	return DefaultJWKSMaxAge
}
