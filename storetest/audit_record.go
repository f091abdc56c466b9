package storetest

import (
	"testing"

	"github.com/keygate/keygate"
)

// An entry with no stored change (an anomaly alert) is recorded with the
// context's actor and reason, its control characters cleaned.
func testRecordAudit(t *testing.T, s suite) {
	e := s.env(t)
	ctx := keygate.WithReason(keygate.WithActor(e.ctx, "system:anomaly"), "Address 203.0.113.9 presented\n50 refused credentials")
	check(t, e.store.RecordAudit(ctx, &keygate.AuditEvent{Action: "anomaly.brute_force_ip", TargetKind: "anomaly", TargetID: "203.0.113.9", Result: keygate.AuditOK}))
	e.wantChanges(t) // nothing any cache holds changed
	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{Actor: "system:anomaly"}, keygate.Page{Limit: 10})
	check(t, err)
	if len(events) != 1 {
		t.Fatalf("%d entries, want 1", len(events))
	}
	ev := events[0]
	if ev.Action != "anomaly.brute_force_ip" || ev.TargetKind != "anomaly" || ev.TargetID != "203.0.113.9" ||
		ev.Reason != "Address 203.0.113.9 presented 50 refused credentials" || !ev.At.Equal(e.now()) {
		t.Errorf("recorded %+v", ev)
	}
}
