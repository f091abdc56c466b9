package e2e

import (
	"testing"

	"github.com/keygate/keygate"
)

// keygate audit ...

func TestCLIAuditTrail(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	k := adminJSON[keygate.IssuedKey](t, "keys", "create", "alice")
	admin(t, "keys", "revoke", k.ID, "--reason", "laptop stolen")

	got := adminJSON[keygate.List[*keygate.AuditEvent]](t, "audit", "list", "--target", k.ID)
	if len(got.Data) != 2 {
		t.Fatalf("audit %+v", got.Data)
	}
	created, revoked := got.Data[0], got.Data[1]
	if created.Action != "key.created" || created.Actor != "admin:bootstrap" ||
		revoked.Action != "key.revoked" || revoked.Reason != "laptop stolen" {
		t.Errorf("audit events %+v %+v", created, revoked)
	}
	wantTable(t, admin(t, "audit", "list", "--action", "key.revoked"), auditHeader,
		[]string{"admin:bootstrap", "key.revoked", k.ID, "laptop", "stolen"})
	if _, _, err := runAdmin(t, "", "keys", "revoke", k.ID, "--reason", "bad\x01reason"); err == nil {
		t.Error("a reason with a control character was accepted")
	}
}
