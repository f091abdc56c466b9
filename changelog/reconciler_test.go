package changelog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// fakeLog is a change log whose rows become visible when the test says, in
// any order, as PostgreSQL's may.
type fakeLog struct {
	mu      sync.Mutex
	visible map[int64]keygate.SequencedChange
	fail    error
}

func (l *fakeLog) show(seqs ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.visible == nil {
		l.visible = map[int64]keygate.SequencedChange{}
	}
	for _, s := range seqs {
		l.visible[s] = keygate.SequencedChange{Seq: s, Change: keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: fmt.Sprint(s)}}
	}
}

func (l *fakeLog) ChangesSince(_ context.Context, after int64, limit int) ([]keygate.SequencedChange, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	var out []keygate.SequencedChange
	for s, c := range l.visible {
		if s > after {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out[:min(len(out), limit)], nil
}

func (l *fakeLog) LatestChange(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var latest int64
	for s := range l.visible {
		latest = max(latest, s)
	}
	return latest, l.fail
}

// harness is a Reconciler on a fake log with a settable clock, recording
// the ids it applies.
type harness struct {
	log     *fakeLog
	r       *Reconciler
	now     time.Time
	applied []string
}

func newHarness(t *testing.T, existing ...int64) *harness {
	t.Helper()
	h := &harness{log: &fakeLog{}, now: time.Unix(1e9, 0)}
	h.log.show(existing...)
	h.r = &Reconciler{Log: h.log, Apply: func(c keygate.Change) { h.applied = append(h.applied, c.ID) },
		GapTimeout: time.Minute, Now: func() time.Time { return h.now }}
	if err := h.r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h
}

// reconcile runs once and checks what was applied, in order, and where the floor is.
func (h *harness) reconcile(t *testing.T, floor int64, want ...string) {
	t.Helper()
	h.applied = nil
	n, err := h.r.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.applied, want) || n != len(want) {
		t.Errorf("applied %v (%d), want %v", h.applied, n, want)
	}
	if got, _ := h.r.Position(); got != floor {
		t.Errorf("floor %d, want %d", got, floor)
	}
}

func TestReconciler(t *testing.T) {
	t.Run("starts at the latest change and applies each later one once, in order", func(t *testing.T) {
		h := newHarness(t, 1, 2, 3)
		h.reconcile(t, 3)
		h.log.show(4, 5)
		h.reconcile(t, 5, "4", "5")
		h.reconcile(t, 5)
	})

	t.Run("a lower number that becomes visible after a higher one is applied", func(t *testing.T) {
		h := newHarness(t, 1, 2, 3)
		h.log.show(5) // 4's transaction has its number but has not committed
		h.reconcile(t, 3, "5")
		h.now = h.now.Add(30 * time.Second)
		h.log.show(4, 6)
		h.reconcile(t, 6, "4", "6")
		h.reconcile(t, 6)
	})

	t.Run("a number that never shows up holds the floor for the gap timeout, not the changes after it", func(t *testing.T) {
		h := newHarness(t, 1)
		h.log.show(3, 4) // 2 rolled back
		h.reconcile(t, 1, "3", "4")
		h.now = h.now.Add(59 * time.Second)
		h.log.show(5)
		h.reconcile(t, 1, "5")
		h.now = h.now.Add(time.Second)
		h.reconcile(t, 5)
		h.log.show(7, 6)
		h.reconcile(t, 7, "6", "7")
	})

	t.Run("a jump in the numbers is given up in one step", func(t *testing.T) {
		h := newHarness(t, 1)
		h.log.show(1_000_000)
		h.reconcile(t, 1, "1000000")
		h.now = h.now.Add(time.Minute)
		h.reconcile(t, 1_000_000)
	})

	t.Run("a change below the latest at start, committed after it, is applied", func(t *testing.T) {
		h := newHarness(t, 1, 2, 4) // 3 in flight when the node starts
		h.reconcile(t, 2)
		h.log.show(3)
		h.reconcile(t, 4, "3")
	})

	t.Run("more than a page", func(t *testing.T) {
		h := newHarness(t)
		var want []string
		for s := int64(1); s <= 2*pageSize+5; s++ {
			h.log.show(s)
			want = append(want, fmt.Sprint(s))
		}
		h.reconcile(t, 2*pageSize+5, want...)
	})

	t.Run("a failed read loses nothing", func(t *testing.T) {
		h := newHarness(t, 1)
		h.log.show(2)
		h.log.fail = errors.New("store down")
		if _, err := h.r.Reconcile(t.Context()); err == nil {
			t.Fatal("no error from a failing log")
		}
		h.log.fail = nil
		h.reconcile(t, 2, "2")
	})
}

func TestReconcilerRun(t *testing.T) {
	log := &fakeLog{}
	log.show(1)
	got := make(chan string, 10)
	r := &Reconciler{Log: log, Apply: func(c keygate.Change) { got <- c.ID }, Interval: 10 * time.Millisecond}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	log.show(2)
	select {
	case id := <-got:
		if id != "2" {
			t.Errorf("applied %s, want 2", id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("change 2 not applied within 2 s")
	}
	cancel()
	<-done
}
