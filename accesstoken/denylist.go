package accesstoken

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// RevokedLister reads the revoked tokens; keygate.AccessTokenStore is one.
type RevokedLister interface {
	ListRevokedAccessTokens(ctx context.Context, now time.Time, p keygate.Page) ([]*keygate.RevokedToken, string, error)
}

// Denylist is a node's copy of the revoked access tokens' jtis, each until
// its token expired. Reads (Revoked, on every request) take no lock: the
// set is two immutable maps swapped on each revocation, a large base and
// a small recent one copied on each write; recent is folded into base
// (dropping the jtis whose tokens have expired) once it grows past
// recentMin and √len(base), so a revocation copies a small map, not
// everything.
type Denylist struct {
	src RevokedLister
	now func() time.Time

	set atomic.Pointer[jtiSet]
	mu  sync.Mutex // one writer at a time
}

// jtiSet maps jti → until when it is refused.
type jtiSet struct{ base, recent map[string]time.Time }

// recentMin is the least recent holds before it is folded into base; it
// holds up to √len(base) beyond that, which keeps the cost of a burst of n
// revocations near O(n√n) map writes in all.
const recentMin = 256

// changeTTL is how long a jti learnt from a change (which names the jti
// only) is refused: no token lives longer, whatever its exp was. Load
// replaces it with the exact expiry.
const changeTTL = keygate.MaxTokenLifetime*time.Second + DefaultLeeway

// NewDenylist returns an empty denylist reading from src (Load); now nil
// is time.Now.
func NewDenylist(src RevokedLister, now func() time.Time) *Denylist {
	if now == nil {
		now = time.Now
	}
	d := &Denylist{src: src, now: now}
	d.set.Store(&jtiSet{base: map[string]time.Time{}, recent: map[string]time.Time{}})
	return d
}

// Revoked says whether the token with this jti was revoked. The gateway's
// oauth2 verifier calls it for every token whose signature holds.
func (d *Denylist) Revoked(jti string) bool {
	s := d.set.Load()
	if _, ok := s.recent[jti]; ok {
		return true
	}
	_, ok := s.base[jti]
	return ok
}

// Len is how many jtis the denylist holds (expired ones included until
// the next fold).
func (d *Denylist) Len() int {
	s := d.set.Load()
	n := len(s.base)
	for jti := range s.recent {
		if _, dup := s.base[jti]; !dup {
			n++
		}
	}
	return n
}

// Add refuses jti until until.
func (d *Denylist) Add(jti string, until time.Time) {
	d.update(map[string]time.Time{jti: until})
}

// Apply is the denylist's keygate.ChangeFunc: a revoked token's jti comes
// as an AccessTokenChanged change.
func (d *Denylist) Apply(c keygate.Change) {
	if c.Kind == keygate.AccessTokenChanged && c.ID != "" {
		d.Add(c.ID, d.now().Add(changeTTL))
	}
}

// Load reads every revoked token that has not expired from the store and
// adds them: at start, and after a node missed changes. What was added
// meanwhile stays (a revocation is never undone).
func (d *Denylist) Load(ctx context.Context) error {
	now := d.now()
	read := map[string]time.Time{}
	p := keygate.Page{Limit: keygate.MaxPageSize}
	for {
		tokens, next, err := d.src.ListRevokedAccessTokens(ctx, now, p)
		if err != nil {
			return err
		}
		for _, t := range tokens {
			read[t.JTI] = t.ExpiresAt.Add(DefaultLeeway)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	d.update(read)
	return nil
}

// update swaps in the current set plus add: in recent while it stays
// small, else all folded into a new base without the expired entries.
func (d *Denylist) update(add map[string]time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.set.Load()
	if n := len(old.recent) + len(add); n <= recentMin || n*n <= len(old.base) {
		recent := make(map[string]time.Time, len(old.recent)+len(add))
		merge(recent, old.recent, time.Time{})
		merge(recent, add, time.Time{})
		d.set.Store(&jtiSet{base: old.base, recent: recent})
		return
	}
	now := d.now()
	base := make(map[string]time.Time, len(old.base)+len(old.recent)+len(add))
	merge(base, old.base, now)
	merge(base, old.recent, now)
	merge(base, add, now)
	d.set.Store(&jtiSet{base: base, recent: map[string]time.Time{}})
}

// merge adds src to dst, leaving out what expired by now (zero: nothing).
// Two sources naming one jti: the later bound wins, a jti is never refused
// for less long than either said.
func merge(dst, src map[string]time.Time, now time.Time) {
	for jti, until := range src {
		if !now.IsZero() && !now.Before(until) {
			continue
		}
		if cur, ok := dst[jti]; !ok || until.After(cur) {
			dst[jti] = until
		}
	}
}
