package storetest

import (
	"testing"

	"github.com/keygate/keygate"
)

// An entry with no stored change (an anomaly alert) is recorded with the
// context's actor and reason, its control characters cleaned.
func testRecordAudit(t *testing.T, s suite) {
	e := s.env(t)
	rec, ok := e.store.(keygate.AuditRecorder)
	if !ok {
		t.Skip("the store records no free-standing audit entries")
	}
	ctx := keygate.WithReason(keygate.WithActor(e.ctx, "system:anomaly"), "Address 203.0.113.9 presented\n50 refused credentials")
	check(t, rec.RecordAudit(ctx, "anomaly", "brute_force_ip", "203.0.113.9"))
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
