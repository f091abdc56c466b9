package keyauth

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/FastFilter/xorfilter"

	"github.com/keygate/keygate"
)

// IdentifierLister is the store read a Filter is built from.
type IdentifierLister interface {
	ListKeyIdentifiers(ctx context.Context, after string, limit int) ([]string, error)
}

// FilterOptions tune a Filter; zero values take the defaults.
type FilterOptions struct {
	// UnknownReads is how many store reads per second this node lets
	// through for identifiers the filter has not seen (default 100;
	// negative: none). They find keys created on another node whose change
	// has not reached this one yet.
	UnknownReads int
	// RebuildAfter is how many identifiers may be added (or deleted) since
	// the last build before the filter is built again from the store
	// (default 4096, or 1/256 of the keys if more).
	RebuildAfter int
	Logger       *slog.Logger
}

// Filter is the set of every key identifier issued, as this node knows it,
// so that a well-formed key whose identifier was never issued is refused
// without a store read and without filling the cache with misses.
//
// It is a binary fuse filter (9 bits per key, 0.4% false positives; see
// github.com/FastFilter/xorfilter) built from the store's listing, plus the
// exact set of identifiers added since, which a background build folds into
// the next filter once it grows. Identifiers are hashed with a per-process
// random seed, so the false positives cannot be found offline. A false
// positive costs the store read every miss cost before; a deleted key stays
// in until the next build, which is the same.
//
// Before its first build it admits every identifier, as if there were no
// filter. The identifiers it rejects may still be read from the store, at
// most UnknownReads a second, shared between client addresses (see
// budget): a key created on another node a moment ago works here before
// its change arrives, unless a flood of unknown identifiers from many
// addresses has spent the budget.
type Filter struct {
	lister IdentifierLister
	seed   maphash.Seed
	opts   FilterOptions
	budget *budget

	built atomic.Pointer[builtFilter] // nil until the first build
	// recent holds the hashes added since before the last build began, each
	// with the build generation it was added in: the ones a build listed
	// are dropped once that build is in place.
	recent   [recentShards]recentShard
	nRecent  atomic.Int64 // entries in recent
	changed  atomic.Int64 // adds and deletes since the last build began
	gen      atomic.Uint32
	building sync.Mutex // one build at a time
	rebuild  chan struct{}

	admitted, rejected, unknownReads atomic.Int64
}

const recentShards = 64

type recentShard struct {
	mu sync.RWMutex
	m  map[uint64]uint32
	_  [32]byte // keeps shards' locks on their own cache lines
}

type builtFilter struct {
	fuse *xorfilter.BinaryFuse8 // nil when the store had no key
	keys int
}

// NewFilter returns an empty filter, which admits everything until Run or
// Rebuild has built it.
func NewFilter(l IdentifierLister, opts FilterOptions) *Filter {
	if opts.UnknownReads == 0 {
		opts.UnknownReads = 100
	}
	if opts.RebuildAfter <= 0 {
		opts.RebuildAfter = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &Filter{lister: l, seed: maphash.MakeSeed(), opts: opts, budget: newBudget(opts.UnknownReads),
		rebuild: make(chan struct{}, 1)}
	for i := range f.recent {
		f.recent[i].m = map[uint64]uint32{}
	}
	return f
}

// Run builds the filter, then builds it again whenever enough has changed
// or Resync asks, until ctx ends. A failed build is retried, every few
// seconds at first; meanwhile the filter answers as before it.
func (f *Filter) Run(ctx context.Context) {
	f.requestRebuild()
	retry := time.Second
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.rebuild:
		case <-timer:
		}
		timer = nil
		start := time.Now()
		if err := f.Rebuild(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.opts.Logger.Warn("key filter: build failed; retrying", "in", retry, "error", err)
			timer = time.After(retry)
			retry = min(2*retry, time.Minute)
			continue
		}
		retry = time.Second
		f.opts.Logger.Debug("key filter built", "keys", f.built.Load().keys, "took", time.Since(start))
	}
}

// Resync asks Run for a new build: for when changes may have been missed.
func (f *Filter) Resync() {
	if f != nil {
		f.requestRebuild()
	}
}

func (f *Filter) requestRebuild() {
	select {
	case f.rebuild <- struct{}{}:
	default: // one is already asked for
	}
}

// Rebuild builds the filter from the store's listing and puts it in place.
func (f *Filter) Rebuild(ctx context.Context) error {
	f.building.Lock()
	defer f.building.Unlock()
	// Every identifier added up to now was committed before the listing
	// below begins, so the listing has it: those of this generation can go
	// once the new filter is in place. Later ones stay.
	done := f.gen.Add(1) - 1
	f.changed.Store(0)
	hashes := make([]uint64, 0, 1024)
	if b := f.built.Load(); b != nil {
		hashes = make([]uint64, 0, b.keys+b.keys/16)
	}
	after := ""
	for {
		page, err := f.lister.ListKeyIdentifiers(ctx, after, keygate.MaxIdentifierPage)
		if err != nil {
			return err
		}
		for _, id := range page {
			hashes = append(hashes, maphash.String(f.seed, id))
		}
		if len(page) < keygate.MaxIdentifierPage {
			break
		}
		after = page[len(page)-1]
	}
	b := &builtFilter{keys: len(hashes)}
	if len(hashes) > 0 {
		fuse, err := xorfilter.PopulateBinaryFuse8(hashes)
		if err != nil {
			return err
		}
		b.fuse = fuse
	}
	f.built.Store(b)
	// Only now: a reader that missed an identifier in recent loads the
	// filter afterwards (see contains) and finds it in the new one.
	for i := range f.recent {
		s := &f.recent[i]
		s.mu.Lock()
		for h, g := range s.m {
			if g <= done {
				delete(s.m, h)
				f.nRecent.Add(-1)
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// Add records an issued identifier at once (a key created through this
// node, another node's change, or one the store just found).
func (f *Filter) Add(identifier string) {
	if f == nil {
		return
	}
	f.add(maphash.String(f.seed, identifier))
}

func (f *Filter) add(h uint64) {
	s := &f.recent[h%recentShards]
	g := f.gen.Load()
	s.mu.Lock()
	if _, ok := s.m[h]; !ok {
		f.nRecent.Add(1)
	}
	s.m[h] = g
	s.mu.Unlock()
	f.noteChange()
}

func (f *Filter) noteChange() {
	threshold := int64(f.opts.RebuildAfter)
	if b := f.built.Load(); b != nil {
		threshold = max(threshold, int64(b.keys/256))
	}
	if f.changed.Add(1) >= threshold {
		f.requestRebuild()
	}
}

// Apply is the change hook: a key created anywhere is added; a deleted one
// counts towards the next build, which leaves it out.
func (f *Filter) Apply(c keygate.Change) {
	if f == nil || c.Kind != keygate.KeyChanged || c.KeyIdentifier == "" {
		return
	}
	switch c.Op {
	case keygate.Deleted:
		f.noteChange()
	default:
		// An update names a key that exists, which may be one whose
		// creation this node missed.
		f.add(maphash.String(f.seed, c.KeyIdentifier))
	}
}

// Contains reports whether identifier may have been issued: false only for
// one never issued (or not known here yet). Before the first build it is
// always true.
func (f *Filter) Contains(identifier string) bool {
	return f == nil || f.contains(maphash.String(f.seed, identifier))
}

func (f *Filter) contains(h uint64) bool {
	// recent first, the filter after: Rebuild puts the new filter in place
	// before it drops from recent what that filter holds.
	if f.nRecent.Load() > 0 {
		s := &f.recent[h%recentShards]
		s.mu.RLock()
		_, ok := s.m[h]
		s.mu.RUnlock()
		if ok {
			return true
		}
	}
	b := f.built.Load()
	return b == nil || b.fuse != nil && b.fuse.Contains(h)
}

// filterVerdict is what the filter says about an identifier not cached.
type filterVerdict uint8

const (
	filterKnown    filterVerdict = iota // (maybe) issued: read the store as always
	filterRead                          // not known, but within the budget: read, cache no miss
	filterRejected                      // not known, budget spent: NOT_FOUND without a read
)

// check is the verifier's hook: what to do about id, not cached, asked for
// from ip at now (unix ns).
func (f *Filter) check(id *identifier, ip netip.Addr, now int64) filterVerdict {
	if f == nil {
		return filterKnown
	}
	if f.contains(maphash.Bytes(f.seed, id[:])) {
		f.admitted.Add(1)
		return filterKnown
	}
	if f.budget.take(ip, now) {
		f.unknownReads.Add(1)
		return filterRead
	}
	f.rejected.Add(1)
	return filterRejected
}

// found records id, which the store has just found although the filter did not know it.
func (f *Filter) found(id *identifier) {
	f.add(maphash.Bytes(f.seed, id[:]))
}

// FilterStats describe a Filter, for metrics and tests.
type FilterStats struct {
	Built bool // false until the first build: everything is admitted
	// Keys is how many identifiers the last build held, Recent how many
	// were added since (exactly), Bytes the build's size.
	Keys, Recent int
	Bytes        int
	// Admitted counts the identifiers not cached that the filter admitted
	// (each then read from the store, once for concurrent requests): keys
	// issued, and the false positives among the others. UnknownReads counts
	// the store reads let through for identifiers the filter did not know;
	// Rejected the requests refused without one.
	Admitted, UnknownReads, Rejected int64
}

// Stats returns the filter's counts.
func (f *Filter) Stats() FilterStats {
	if f == nil {
		return FilterStats{}
	}
	st := FilterStats{Recent: int(f.nRecent.Load()), UnknownReads: f.unknownReads.Load(), Rejected: f.rejected.Load(),
		Admitted: f.admitted.Load()}
	if b := f.built.Load(); b != nil {
		st.Built, st.Keys = true, b.keys
		if b.fuse != nil {
			st.Bytes = len(b.fuse.Fingerprints) + int(unsafe.Sizeof(*b.fuse))
		}
	}
	return st
}
