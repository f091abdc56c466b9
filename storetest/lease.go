package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testLeases checks that a lease has one holder at a time: taken when free,
// renewed by its holder, refused to others until it expires or is
// released, and that it emits no change.
func testLeases(t *testing.T, s suite) {
	e := s.env(t)
	const ttl = 30 * time.Second
	acquire := func(name, holder string) bool {
		t.Helper()
		held, err := e.store.AcquireLease(e.ctx, name, holder, ttl)
		check(t, err)
		return held
	}
	steps := []struct {
		name    string
		advance time.Duration
		run     func() bool
		want    bool
	}{
		{"free: taken", 0, func() bool { return acquire("jobs", "a") }, true},
		{"held: refused to another", 0, func() bool { return acquire("jobs", "b") }, false},
		{"another name is another lease", 0, func() bool { return acquire("webhooks", "b") }, true},
		{"renewed by its holder", 20 * time.Second, func() bool { return acquire("jobs", "a") }, true},
		// The renewal moved the expiry: 20s + 20s is past the first ttl, not past the renewed one.
		{"renewed: still refused", 20 * time.Second, func() bool { return acquire("jobs", "b") }, false},
		{"expired: taken over", ttl, func() bool { return acquire("jobs", "b") }, true},
		{"taken over: refused to the old holder", 0, func() bool { return acquire("jobs", "a") }, false},
		{"release by another: no effect", 0, func() bool {
			check(t, e.store.ReleaseLease(e.ctx, "jobs", "a"))
			return acquire("jobs", "a")
		}, false},
		{"released: free at once", 0, func() bool {
			check(t, e.store.ReleaseLease(e.ctx, "jobs", "b"))
			return acquire("jobs", "a")
		}, true},
		{"release of a free lease: no error", 0, func() bool {
			check(t, e.store.ReleaseLease(e.ctx, "nothing", "a"))
			return acquire("nothing", "a")
		}, true},
		{"expiry is exact: refused at ttl-1µs", ttl - time.Microsecond, func() bool { return acquire("nothing", "b") }, false},
		{"expiry is exact: taken at ttl", time.Microsecond, func() bool { return acquire("nothing", "b") }, true},
	}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		if got := st.run(); got != st.want {
			t.Fatalf("%s: held = %v, want %v", st.name, got, st.want)
		}
	}
	e.wantChanges(t)

	_, err := e.store.AcquireLease(e.ctx, "", "a", ttl)
	wantError(t, err, keygate.EINVALID, "name")
	_, err = e.store.AcquireLease(e.ctx, "jobs", "", ttl)
	wantError(t, err, keygate.EINVALID, "holder")
	_, err = e.store.AcquireLease(e.ctx, "jobs", "a", 0)
	wantError(t, err, keygate.EINVALID, "ttl")
}

// testLeaseConcurrent races many holders for one free lease, and again for
// it once expired: each time exactly one gets it.
func testLeaseConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	const holders = 8
	for round := range 3 {
		var mu sync.Mutex
		var winners []int
		var wg sync.WaitGroup
		for i := range holders {
			wg.Go(func() {
				held, err := e.store.AcquireLease(e.ctx, "jobs", string(rune('a'+i)), time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if held {
					mu.Lock()
					winners = append(winners, i)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d holders got the lease (%v), want 1", round, len(winners), winners)
		}
		e.clock.Advance(time.Minute) // expired: free for the next round
	}
}
