package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
)

// The audit trail is one hash chain: numbered without gaps, each event
// sealed after the one before, with the source of the request and, for an
// update, what changed, secrets left out.
func testAuditChain(t *testing.T, s suite) {
	e := s.env(t)
	head, err := e.store.AuditHead(e.ctx)
	check(t, err)
	if head != (keygate.AuditHead{}) {
		t.Errorf("empty store's head %+v", head)
	}
	ctx := keygate.WithSource(keygate.WithActor(e.ctx, "admin:ops"), "192.0.2.7")
	c := newConsumer("alice")
	c.Tags = []string{"acme"}
	check(t, e.store.CreateConsumer(ctx, c))
	_, err = e.store.UpdateConsumer(ctx, c.ID, func(c *keygate.Consumer) error {
		c.Username, c.Tags = "alice2", []string{"gold"}
		return nil
	})
	check(t, err)
	k := newKey(c.ID, "chained")
	k.Name = "chained"
	check(t, e.store.CreateKey(ctx, k))
	_, err = e.store.UpdateKey(ctx, k.ID, func(k *keygate.APIKey) error { k.Name = "renamed"; return nil })
	check(t, err)
	check(t, e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))

	var all []*keygate.AuditEvent
	for ev, err := range auditchain.Events(e.ctx, e.store) {
		check(t, err)
		all = append(all, ev)
	}
	if len(all) != 5 {
		t.Fatalf("%d events, want 5", len(all))
	}
	for i, ev := range all {
		if ev.Seq != int64(i+1) || ev.Hash != auditchain.Hash(ev) || ev.Result != keygate.AuditOK {
			t.Errorf("event %d: seq %d result %q hash %q, want %q", i, ev.Seq, ev.Result, ev.Hash, auditchain.Hash(ev))
		}
		if i > 0 && ev.PrevHash != all[i-1].Hash || i == 0 && ev.PrevHash != "" {
			t.Errorf("event %d: prev_hash %q", i, ev.PrevHash)
		}
	}
	if all[0].Source != "192.0.2.7" || all[4].Source != "" {
		t.Errorf("sources %q, %q", all[0].Source, all[4].Source)
	}
	want := []keygate.AuditChange{{Field: "tags", Before: `["acme"]`, After: `["gold"]`}, {Field: "username", Before: `"alice"`, After: `"alice2"`}}
	if fmt.Sprint(all[1].Changes) != fmt.Sprint(want) {
		t.Errorf("consumer update summary %+v, want %+v", all[1].Changes, want)
	}
	if got := all[3].Changes; len(got) != 1 || got[0] != (keygate.AuditChange{Field: "name", Before: `"chained"`, After: `"renamed"`}) {
		t.Errorf("key update summary %+v", got)
	}
	if all[0].Changes != nil || all[2].Changes != nil {
		t.Errorf("creates carry a summary: %+v %+v", all[0].Changes, all[2].Changes)
	}
	// ListAudit reads the same events.
	listed, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: c.ID}, keygate.Page{})
	check(t, err)
	if len(listed) != 2 || listed[1].Hash != all[1].Hash || len(listed[1].Changes) != 2 {
		t.Errorf("listed %+v", listed)
	}
	r, err := auditchain.Verify(auditchain.Events(e.ctx, e.store), nil)
	check(t, err)
	if !r.OK() || r.Entries != 5 {
		t.Errorf("verify: %+v", r)
	}
	head, err = e.store.AuditHead(e.ctx)
	check(t, err)
	if head != (keygate.AuditHead{Seq: 5, Hash: all[4].Hash}) {
		t.Errorf("head %+v", head)
	}
	// Paging.
	page, err := e.store.AuditChain(e.ctx, 2, 2)
	check(t, err)
	if len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
		t.Errorf("page after 2: %+v", page)
	}
}

// Writers at once append one after the other: one order, no gaps, no forks.
func testAuditChainConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			ctx := keygate.WithActor(e.ctx, fmt.Sprintf("admin:w%d", w))
			for i := range each {
				if err := e.store.CreateConsumer(ctx, newConsumer(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r, err := auditchain.Verify(auditchain.Events(e.ctx, e.store), nil)
	check(t, err)
	if !r.OK() || r.Entries != writers*each || r.Head.Seq != writers*each {
		t.Errorf("verify: %+v %v", r, r.Problem)
	}
}

// RecordAudit appends an event that is no transition (a denied request) to
// the same chain, with the context's actor, source and reason.
func testAuditRecord(t *testing.T, s suite) {
	e := s.env(t)
	ctx := keygate.WithReason(keygate.WithSource(keygate.WithActor(e.ctx, "admin:viewer"), "192.0.2.9"), "role viewer may not write")
	check(t, e.store.CreateConsumer(ctx, newConsumer("alice")))
	ev := &keygate.AuditEvent{Action: "request.denied", TargetKind: "request", TargetID: "POST /v1/keys", Result: keygate.AuditDenied}
	check(t, e.store.RecordAudit(ctx, ev))
	if ev.ID == "" || ev.Actor != "admin:viewer" {
		t.Errorf("recorded %+v", ev)
	}
	wantError(t, e.store.RecordAudit(ctx, &keygate.AuditEvent{Action: "x"}), keygate.EINVALID, "action, target_kind, result")
	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{Action: "request.denied"}, keygate.Page{})
	check(t, err)
	if len(events) != 1 || events[0].Result != keygate.AuditDenied || events[0].Source != "192.0.2.9" ||
		events[0].Reason != "role viewer may not write" || events[0].TargetID != "POST /v1/keys" {
		t.Errorf("denied events %+v", events)
	}
	r, err := auditchain.Verify(auditchain.Events(e.ctx, e.store), nil)
	check(t, err)
	if !r.OK() || r.Entries != 2 {
		t.Errorf("verify %+v", r)
	}
}
