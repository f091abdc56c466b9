package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// logged reads the whole change log.
func (e *env) logged(tb testing.TB) []keygate.SequencedChange {
	tb.Helper()
	var all []keygate.SequencedChange
	after := int64(0)
	for {
		page, err := e.store.ChangesSince(e.ctx, after, 3) // small pages: the paging is tested too
		check(tb, err)
		all = append(all, page...)
		if len(page) < 3 {
			return all
		}
		after = page[len(page)-1].Seq
	}
}

// testChangeLogComplete checks that every change a store emits is logged,
// in the order emitted, with its every field and the time of its write,
// and that nothing else is: not a write that failed, not one that emits
// nothing.
func testChangeLogComplete(t *testing.T, s suite) {
	e := s.env(t)
	if n, err := e.store.LatestChange(e.ctx); err != nil || n != 0 {
		t.Fatalf("LatestChange of an empty store = %d, %v; want 0", n, err)
	}
	check(t, e.store.CreateService(e.ctx, newService("billing")))
	c := newConsumer("alice")
	check(t, e.store.CreateConsumer(e.ctx, c))
	e.clock.Advance(time.Minute)
	k := newKey(c.ID, "ident")
	check(t, e.store.CreateKey(e.ctx, k))
	_, err := e.store.RevokeKey(e.ctx, k.ID)
	check(t, err)
	wantError(t, e.store.CreateConsumer(e.ctx, newConsumer("alice")), keygate.ECONFLICT, "")
	check(t, e.store.AddUsage(e.ctx, []keygate.UsageRecord{{Minute: e.now().Truncate(time.Minute), ConsumerID: c.ID, Allowed: 1}}))
	e.clock.Advance(time.Minute)
	check(t, e.store.DeleteConsumer(e.ctx, c.ID)) // the key goes with it: two changes in one write

	emitted := e.changes.take()
	logged := e.logged(t)
	var got []keygate.Change
	for _, l := range logged {
		got = append(got, l.Change)
	}
	if fmt.Sprint(got) != fmt.Sprint(emitted) || len(got) != 6 {
		t.Fatalf("logged changes:\n got %+v\nwant %+v (6)", got, emitted)
	}
	var last int64
	for i, l := range logged {
		if l.Seq <= last {
			t.Errorf("change %d: seq %d after %d", i, l.Seq, last)
		}
		last = l.Seq
	}
	if n, err := e.store.LatestChange(e.ctx); err != nil || n != last {
		t.Errorf("LatestChange = %d, %v; want %d", n, err, last)
	}
	start := start.UTC().Truncate(time.Microsecond)
	if !logged[0].At.Equal(start) || !logged[2].At.Equal(start.Add(time.Minute)) || !logged[len(logged)-1].At.Equal(start.Add(2*time.Minute)) {
		t.Errorf("logged at %v, %v, %v; want the writes' times, %v and a minute and two later", logged[0].At, logged[2].At, logged[len(logged)-1].At, start)
	}
	revoke := keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "revoked", ID: k.ID, KeyIdentifier: "ident"}
	if logged[3].Change != revoke {
		t.Errorf("logged revoke %+v, want %+v", logged[3].Change, revoke)
	}

	// A page starts after the number it is given.
	page, err := e.store.ChangesSince(e.ctx, logged[1].Seq, 2)
	check(t, err)
	if len(page) != 2 || page[0].Seq != logged[2].Seq || page[1].Seq != logged[3].Seq {
		t.Errorf("ChangesSince(%d, 2) = %+v, want changes %d and %d", logged[1].Seq, page, logged[2].Seq, logged[3].Seq)
	}
	if page, err := e.store.ChangesSince(e.ctx, last, 10); err != nil || len(page) != 0 {
		t.Errorf("ChangesSince(latest) = %+v, %v; want none", page, err)
	}
}

// testChangeLogConcurrent checks that writes on many connections at once
// log every change they emit, each under a number of its own.
func testChangeLogConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				check(t, e.store.CreateService(e.ctx, newService(fmt.Sprintf("s%d-%d", i, j))))
			}
		})
	}
	wg.Wait()
	emitted := map[string]bool{}
	for _, c := range e.changes.take() {
		emitted[c.ID] = true
	}
	logged := e.logged(t)
	seqs := map[int64]bool{}
	for _, l := range logged {
		if !emitted[l.ID] {
			t.Errorf("logged %+v, which was not emitted", l)
		}
		delete(emitted, l.ID)
		if seqs[l.Seq] {
			t.Errorf("seq %d logged twice", l.Seq)
		}
		seqs[l.Seq] = true
	}
	if len(emitted) != 0 || len(logged) != 40 {
		t.Errorf("%d changes logged, want 40; not logged: %v", len(logged), emitted)
	}
}

// testChangeLogPrune checks that pruning deletes by the time of the write,
// and that a number is never used again, even once the log is empty: a
// reader that saw it would skip the change that reused it.
func testChangeLogPrune(t *testing.T, s suite) {
	e := s.env(t)
	check(t, e.store.CreateService(e.ctx, newService("old1")))
	check(t, e.store.CreateService(e.ctx, newService("old2")))
	cutoff := e.clock.Advance(time.Hour)
	check(t, e.store.CreateService(e.ctx, newService("new")))
	before := e.logged(t)

	n, err := e.store.PruneChanges(e.ctx, cutoff)
	check(t, err)
	if n != 2 {
		t.Errorf("pruned %d, want 2", n)
	}
	n, err = e.store.PruneChanges(e.ctx, cutoff) // another node, say
	check(t, err)
	if n != 0 {
		t.Errorf("pruned again: %d, want 0", n)
	}
	if after := e.logged(t); len(after) != 1 || after[0] != before[2] {
		t.Errorf("left after pruning: %+v, want %+v", after, before[2:])
	}

	_, err = e.store.PruneChanges(e.ctx, e.clock.Advance(time.Hour))
	check(t, err)
	if left := e.logged(t); len(left) != 0 {
		t.Errorf("left after pruning everything: %+v", left)
	}
	check(t, e.store.CreateService(e.ctx, newService("newer")))
	after := e.logged(t)
	if len(after) != 1 || after[0].Seq <= before[2].Seq {
		t.Errorf("after pruning everything, a new change got %+v; want a number above %d", after, before[2].Seq)
	}
}
