package changelog

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/keygate/keygate"
)

// Log is what a Reconciler reads.
type Log interface {
	ChangesSince(ctx context.Context, after int64, limit int) ([]keygate.SequencedChange, error)
	LatestChange(ctx context.Context) (int64, error)
}

// Defaults of the Reconciler's settings.
const (
	DefaultInterval   = time.Second
	DefaultGapTimeout = time.Minute
	// lookback is how many numbers below the latest at Start are watched
	// for changes committed late (see Start).
	lookback = 256
	pageSize = 1000
)

// Reconciler applies the change log to this node's caches.
//
// Sequence numbers are not handed out in commit order on PostgreSQL: a
// transaction may take number 7, another 8 and commit first, so a reader
// can see 8 while 7 is still invisible. Reading only "after the highest
// number seen" would skip 7 forever. So the Reconciler keeps a floor (every
// number at or below it is done with), the numbers above it it applied, and
// the moment each missing number was first found missing; each run reads
// everything above the floor, applies what it has not, and moves the floor
// up over the applied numbers and over the missing ones that stayed missing
// for GapTimeout. A number stays missing for good when its transaction
// rolled back (a lost serialization race, say); one taken by a transaction
// that commits within GapTimeout is applied when it shows up. The store
// takes the number as the last step before its commit, so that window is
// one round trip, not the transaction.
//
// A Reconciler also applies this node's own changes a second time:
// invalidation is idempotent, and it costs one store read per cached entry.
type Reconciler struct {
	Log Log
	// Apply hands a change to the caches; it is the function the Redis
	// bus uses for the other nodes' changes.
	Apply keygate.ChangeFunc
	// Interval between runs; DefaultInterval when 0.
	Interval time.Duration
	// GapTimeout is how long a missing number is waited for; DefaultGapTimeout when 0.
	GapTimeout time.Duration
	Logger     *slog.Logger
	// Now is the clock gaps are timed with; time.Now when nil.
	Now func() time.Time

	floor   int64
	high    int64
	applied map[int64]bool
	// marks record, in order, each time high went up, and when: a number
	// at or below a mark's seq and above the previous mark's was first
	// missing at that mark's time.
	marks []mark
}

type mark struct {
	seq int64
	at  time.Time
}

// Start sets the Reconciler at the log's latest change: what was committed
// before is in the store, which the caches, empty at start, read. A change
// with a lower number may still be on its way (its transaction not yet
// committed): the last lookback numbers are watched as gaps, and those
// already there are taken as applied.
func (r *Reconciler) Start(ctx context.Context) error {
	latest, err := r.Log.LatestChange(ctx)
	if err != nil {
		return err
	}
	r.floor = max(0, latest-lookback)
	r.applied = map[int64]bool{}
	r.marks = nil
	r.high = r.floor
	recent, err := r.Log.ChangesSince(ctx, r.floor, lookback)
	if err != nil {
		return err
	}
	for _, c := range recent {
		if c.Seq <= latest {
			r.applied[c.Seq] = true
		}
	}
	r.raise(latest)
	r.advance()
	return nil
}

// Run applies the log every Interval until ctx ends; Start must have
// succeeded first. A failed run is logged and the next one picks up where
// it left off.
func (r *Reconciler) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false // logged once per outage, not every interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := r.Reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			r.logger().Warn("change log: read failed; retrying every interval", "interval", interval, "error", err)
		case err == nil && failing:
			r.logger().Info("change log: read again")
		}
		failing = err != nil
	}
}

// Reconcile reads the changes not applied yet, applies them and says how
// many.
func (r *Reconciler) Reconcile(ctx context.Context) (int, error) {
	n := 0
	after := r.floor
	for {
		page, err := r.Log.ChangesSince(ctx, after, pageSize)
		if err != nil {
			return n, err
		}
		for _, c := range page {
			if c.Seq <= r.floor || r.applied[c.Seq] {
				continue
			}
			r.Apply(c.Change)
			r.applied[c.Seq] = true
			n++
			r.raise(c.Seq)
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].Seq
	}
	r.advance()
	return n, nil
}

// raise notes that the numbers up to seq exist: those not applied are missing from now.
func (r *Reconciler) raise(seq int64) {
	if seq > r.high {
		r.high = seq
		r.marks = append(r.marks, mark{seq, r.now()})
	}
}

// advance moves the floor over the applied numbers and the ones given up on.
func (r *Reconciler) advance() {
	timeout := r.GapTimeout
	if timeout <= 0 {
		timeout = DefaultGapTimeout
	}
	now := r.now()
	for r.floor < r.high {
		next := r.floor + 1
		if r.applied[next] {
			delete(r.applied, next)
			r.floor = next
			continue
		}
		// next is missing: since the first mark at or above it.
		i := sort.Search(len(r.marks), func(i int) bool { return r.marks[i].seq >= next })
		m := r.marks[i]
		if now.Sub(m.at) < timeout {
			break
		}
		// Every number up to the mark was missing since then: give them
		// all up at once (a jump in the numbers is one step).
		if n := r.givenUp(next, m.seq); n > 0 {
			r.logger().Debug("change log: numbers never committed, given up", "from", next, "to", m.seq, "missing", n)
		}
		r.floor = m.seq
	}
	// Marks at or below the floor are no longer needed.
	i := sort.Search(len(r.marks), func(i int) bool { return r.marks[i].seq > r.floor })
	r.marks = r.marks[i:]
}

// givenUp forgets the applied numbers in [from, to] and counts the others.
func (r *Reconciler) givenUp(from, to int64) int64 {
	missing := to - from + 1
	for seq := range r.applied {
		if seq >= from && seq <= to {
			delete(r.applied, seq)
			missing--
		}
	}
	return missing
}

// Position is the floor (every number at or below it is done with) and the
// highest number seen; for tests and metrics.
func (r *Reconciler) Position() (floor, high int64) { return r.floor, r.high }

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
