package lease_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/lease"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
	"github.com/keygate/keygate/storetest"
)

func openStore(tb testing.TB, now func() time.Time) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), sqlitetest.Path(tb), sqlite.Options{Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// job counts how many copies of itself run at once, and the most ever.
type job struct {
	running, most atomic.Int32
	started       chan struct{}
	stopped       chan struct{}
}

func newJob() *job { return &job{started: make(chan struct{}, 16), stopped: make(chan struct{}, 16)} }

func (j *job) run(ctx context.Context) {
	n := j.running.Add(1)
	for {
		m := j.most.Load()
		if n <= m || j.most.CompareAndSwap(m, n) {
			break
		}
	}
	j.started <- struct{}{}
	<-ctx.Done()
	j.running.Add(-1)
	j.stopped <- struct{}{}
}

// start runs r with j until the test ends, and waits for Run to return then.
func start(t *testing.T, r *lease.Runner, j *job) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, j.run) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func wait(t *testing.T, ch <-chan struct{}, within time.Duration, what string) time.Duration {
	t.Helper()
	begin := time.Now()
	select {
	case <-ch:
		return time.Since(begin)
	case <-time.After(within):
		t.Fatalf("%s: not within %v", what, within)
		return 0
	}
}

// A lease lost (it expired on the store's clock and another holder took
// it) stops the job at the next renewal; the runner takes the lease again
// once it is free.
func TestLeaseLost(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	db := openStore(t, clock.Now)
	const ttl = 90 * time.Millisecond
	j := newJob()
	r := &lease.Runner{Store: db, Name: "jobs", Holder: "a", TTL: ttl, Logger: quiet}
	start(t, r, j)
	wait(t, j.started, 5*time.Second, "job started")
	if !r.Held() {
		t.Error("Held() = false while the job runs")
	}

	clock.Advance(ttl) // expired, as if a's renewals had stalled
	if held, err := db.AcquireLease(t.Context(), "jobs", "b", time.Hour); err != nil || !held {
		t.Fatalf("b takes the expired lease: %v %v", held, err)
	}
	took := wait(t, j.stopped, 2*time.Second, "job stopped after its lease was lost")
	t.Logf("job stopped %v after its lease was taken (renewal every %v)", took, ttl/3)
	if r.Held() {
		t.Error("Held() = true after the lease was lost")
	}
	// b keeps it: a does not start again.
	select {
	case <-j.started:
		t.Fatal("job started again while b holds the lease")
	case <-time.After(3 * ttl):
	}
	if err := db.ReleaseLease(t.Context(), "jobs", "b"); err != nil {
		t.Fatal(err)
	}
	wait(t, j.started, 2*time.Second, "job started again once the lease was free")
}

// cuttable is a lease store a test can cut off, as if its node had lost
// the database (or hung, or died): every call fails.
type cuttable struct {
	keygate.LeaseStore
	cut atomic.Bool
}

func (c *cuttable) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if c.cut.Load() {
		return false, keygate.Unavailable(errors.New("cut off"), "store unavailable")
	}
	return c.LeaseStore.AcquireLease(ctx, name, holder, ttl)
}

func (c *cuttable) ReleaseLease(ctx context.Context, name, holder string) error {
	if c.cut.Load() {
		return keygate.Unavailable(errors.New("cut off"), "store unavailable")
	}
	return c.LeaseStore.ReleaseLease(ctx, name, holder)
}

// Two nodes: one runs the job, the other waits; when the holder stops
// renewing (it cannot reach the store), its job stops at its next renewal
// and the other node takes over once the lease has expired, without the
// two jobs ever running at once. When a holder stops (Run's context ends),
// it releases the lease and the other takes over at its next try.
func TestTakeover(t *testing.T) {
	db := openStore(t, nil)
	const ttl = 600 * time.Millisecond // margins of ttl/3 between one job's end and the other's start
	aStore := &cuttable{LeaseStore: db}
	j := newJob()
	a := &lease.Runner{Store: aStore, Name: "jobs", Holder: "a", TTL: ttl, Logger: quiet}
	b := &lease.Runner{Store: db, Name: "jobs", Holder: "b", TTL: ttl, Logger: quiet}
	start(t, a, j)
	wait(t, j.started, 5*time.Second, "a's job started")
	stopB := start(t, b, j)
	select {
	case <-j.started:
		t.Fatal("b started the job while a holds the lease")
	case <-time.After(2 * ttl):
	}
	if !a.Held() || b.Held() {
		t.Fatalf("Held: a %v, b %v; want a only", a.Held(), b.Held())
	}

	cut := time.Now()
	aStore.cut.Store(true)
	wait(t, j.stopped, 2*time.Second, "a's job stopped when its renewal failed")
	stoppedAfter := time.Since(cut)
	// Only the lower bound below is the lease's promise; this one is
	// liveness, with room for a machine busy with other tests.
	wait(t, j.started, 10*ttl, "b took over")
	tookOver := time.Since(cut)
	t.Logf("a's job stopped %v after the cut, b's started %v after it (ttl %v)", stoppedAfter, tookOver, ttl)
	if tookOver < ttl/3 { // a's last renewal was at most ttl/3 before the cut
		t.Errorf("b took over %v after a was cut off, before a's lease could have expired", tookOver)
	}
	if !b.Held() || a.Held() {
		t.Errorf("Held: a %v, b %v; want b only", a.Held(), b.Held())
	}

	// a is back: it waits, b holds. b stops: it releases, a takes over at
	// its next try, long before the lease would have expired.
	aStore.cut.Store(false)
	stopped := time.Now()
	stopB()
	wait(t, j.stopped, time.Second, "b's job stopped")
	wait(t, j.started, ttl, "a took over from b, which released the lease")
	t.Logf("a took over %v after b stopped", time.Since(stopped))
	if most := j.most.Load(); most != 1 {
		t.Errorf("%d jobs ran at once, want 1", most)
	}
}

// A job that returns by itself gives the lease up and is started again.
func TestJobReturns(t *testing.T) {
	db := openStore(t, nil)
	var runs atomic.Int32
	r := &lease.Runner{Store: db, Name: "jobs", Holder: "a", TTL: 30 * time.Millisecond, Logger: quiet}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := r.Run(ctx, func(context.Context) { runs.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n < 2 {
		t.Errorf("job ran %d times, want it started again after it returned", n)
	}
	// Run released it on the way out.
	if held, err := db.AcquireLease(t.Context(), "jobs", "b", time.Minute); err != nil || !held {
		t.Errorf("lease after Run returned: held by b %v %v, want free", held, err)
	}
}

func TestRunnerConfig(t *testing.T) {
	db := openStore(t, nil)
	for name, r := range map[string]*lease.Runner{
		"no store":  {Name: "jobs", Holder: "a", TTL: time.Second},
		"no name":   {Store: db, Holder: "a", TTL: time.Second},
		"no holder": {Store: db, Name: "jobs", TTL: time.Second},
		"no ttl":    {Store: db, Name: "jobs", Holder: "a"},
	} {
		if err := r.Run(t.Context(), func(context.Context) {}); err == nil {
			t.Errorf("%s: Run started", name)
		}
	}
	if a, b := lease.NewHolder(), lease.NewHolder(); a == b || a == "" {
		t.Errorf("NewHolder: %q, %q; want two different names", a, b)
	}
}
