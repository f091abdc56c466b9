package storetest

import (
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Every committed transition is in the audit trail, with the actor and
// reason of the context that made it; a failed write leaves no trace.
func testAuditTrail(t *testing.T, s suite) {
	e := s.env(t)
	ctx := keygate.WithActor(e.ctx, "admin:ops")
	c := newConsumer("alice")
	check(t, e.store.CreateConsumer(ctx, c))
	k := newKey(c.ID, "audited")
	check(t, e.store.CreateKey(ctx, k))
	e.clock.Advance(time.Minute)
	_, err := e.store.RevokeKey(keygate.WithReason(ctx, "ticket 42"), k.ID)
	check(t, err)
	// A refused write is not a transition.
	wantError(t, e.store.CreateKey(ctx, newKey(c.ID, "audited")), keygate.ECONFLICT, "identifier")
	check(t, e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))

	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{}, keygate.Page{Limit: 100})
	check(t, err)
	type row struct{ actor, action, target, reason string }
	want := []row{
		{"admin:ops", "consumer.created", c.ID, ""},
		{"admin:ops", "key.created", k.ID, ""},
		{"admin:ops", "key.revoked", k.ID, "ticket 42"},
		{"system", "keyring.rotated", "1", ""},
	}
	if len(events) != len(want) {
		t.Fatalf("%d audit events, want %d: %+v", len(events), len(want), events)
	}
	for i, ev := range events {
		if got := (row{ev.Actor, ev.Action, ev.TargetID, ev.Reason}); got != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got, want[i])
		}
	}
	if !events[2].At.Equal(e.now()) || events[2].TargetKind != "key" {
		t.Errorf("revoke recorded at %v as %q, want %v", events[2].At, events[2].TargetKind, e.now())
	}

	for _, tt := range []struct {
		name string
		f    keygate.AuditFilter
		n    int
	}{
		{"by target", keygate.AuditFilter{TargetID: k.ID}, 2},
		{"by action", keygate.AuditFilter{Action: "key.revoked"}, 1},
		{"by actor", keygate.AuditFilter{Actor: "system"}, 1},
		{"since", keygate.AuditFilter{Since: e.now()}, 2},
	} {
		got, _, err := e.store.ListAudit(e.ctx, tt.f, keygate.Page{Limit: 100})
		check(t, err)
		if len(got) != tt.n {
			t.Errorf("%s: %d events, want %d", tt.name, len(got), tt.n)
		}
	}
	// The trail outlives the record.
	check(t, e.store.DeleteKey(ctx, k.ID))
	got, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: k.ID}, keygate.Page{Limit: 100})
	check(t, err)
	if len(got) != 3 || got[2].Action != "key.deleted" {
		t.Errorf("after delete: %+v", got)
	}
}

// Access requests and the keyring are audited too, though no cache holds
// them and they emit no Change.
func testAuditWithoutChanges(t *testing.T, s suite) {
	e := s.env(t)
	ctx := keygate.WithActor(e.ctx, "admin:ops")
	check(t, e.store.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))
	r := e.accessRequest(t, e.consumer(t, "alice"))
	_, err := e.store.DenyAccessRequest(keygate.WithReason(ctx, "not this quarter"), r.ID, keygate.AccessDecision{By: "ops", Reason: "no"})
	check(t, err)
	e.wantChanges(t)

	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: r.ID}, keygate.Page{Limit: 10})
	check(t, err)
	if len(events) != 2 || events[0].Action != "access_request.created" || events[1].Action != "access_request.denied" ||
		events[1].Actor != "admin:ops" || events[1].Reason != "not this quarter" {
		t.Errorf("access request trail %+v", events)
	}
	events, _, err = e.store.ListAudit(e.ctx, keygate.AuditFilter{Action: "keyring.rotated"}, keygate.Page{Limit: 10})
	check(t, err)
	if len(events) != 1 || events[0].TargetID != "1" || events[0].TargetKind != "keyring" {
		t.Errorf("keyring trail %+v", events)
	}
}
