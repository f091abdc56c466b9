package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var adminTokenHeader = []string{"ID", "NAME", "ROLE", "SERVICES", "CONSUMERS", "CREATED"}

// keygate admin-tokens, run as the binary: a token is printed once, works
// with its role only, a verifier only for its services, and stops working
// once deleted.
func TestCLIAdminTokens(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	ctx := context.Background()
	billing := e.service(t, "billing", e.upstream.URL, nil)
	e.service(t, "orders", e.upstream.URL, nil)
	e.consumer(t, "alice")
	key := e.key(t, "alice", keygate.KeyRequest{})

	out := admin(t, "admin-tokens", "create", "sec-team", "--role", "auditor")
	auditor := secretAfter(t, out, "created:")
	if len(auditor) < 20 || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create printed:\n%s", out)
	}
	verifier := adminJSON[keygate.NewAdminToken](t, "admin-tokens", "create", "billing-verify", "--role", "verifier", "--services", "billing")
	if verifier.Token == "" || len(verifier.Services) != 1 || verifier.Services[0] != billing.ID {
		t.Errorf("verifier token %+v", verifier)
	}

	alice := adminJSON[keygate.Consumer](t, "consumers", "get", "alice")
	portal := adminJSON[keygate.NewAdminToken](t, "admin-tokens", "create", "portal-alice", "--role", "operator", "--consumers", "alice")

	table := admin(t, "admin-tokens", "list")
	wantTable(t, table, adminTokenHeader, []string{"bootstrap", "admin", "-", "-"}, []string{"sec-team", "auditor", "-", "-"},
		[]string{"billing-verify", "verifier", billing.ID, "-"}, []string{"portal-alice", "operator", "-", alice.ID})
	if strings.Contains(table, auditor) || strings.Contains(table, verifier.Token) {
		t.Errorf("list shows a token:\n%s", table)
	}

	// The auditor reads, and changes nothing.
	ac := client.New(e.adminURL, auditor)
	if _, _, err := ac.Services(ctx, keygate.Page{}); err != nil {
		t.Errorf("auditor lists services: %v", err)
	}
	if _, err := ac.RevokeKey(ctx, key.ID); !forbidden(err) {
		t.Errorf("auditor revokes a key: %v, want 403", err)
	}

	// The verifier verifies, for billing only.
	vc := client.New(e.adminURL, verifier.Token)
	if res, err := vc.VerifyKey(ctx, keygate.VerifyRequest{Key: key.Key, Service: "billing"}); err != nil || res.Code != keygate.CodeValid {
		t.Errorf("verify for billing: %+v %v", res, err)
	}
	if _, err := vc.VerifyKey(ctx, keygate.VerifyRequest{Key: key.Key, Service: "orders"}); !forbidden(err) {
		t.Errorf("verify for orders: %v, want 403", err)
	}
	if _, _, err := vc.Services(ctx, keygate.Page{}); !forbidden(err) {
		t.Errorf("verifier lists services: %v, want 403", err)
	}

	// The portal's token acts for alice only.
	pc := client.New(e.adminURL, portal.Token)
	if _, err := pc.CreateKey(ctx, "alice", keygate.KeyRequest{}); err != nil {
		t.Errorf("portal token creates a key for alice: %v", err)
	}
	if _, _, err := pc.Keys(ctx, keygate.Page{}); !forbidden(err) {
		t.Errorf("portal token lists every key: %v, want 403", err)
	}

	// A bad role is refused with the field named.
	if _, errOut, err := runAdmin(t, "", "admin-tokens", "create", "x", "--role", "root"); !reported(err) || !strings.Contains(errOut, "role:") {
		t.Errorf("a bad role: %v %s", err, errOut)
	}

	sec := adminJSON[keygate.List[*keygate.AdminToken]](t, "admin-tokens", "list").Data[1]
	admin(t, "admin-tokens", "delete", sec.ID)
	if _, _, err := ac.Services(ctx, keygate.Page{}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a deleted token: %v, want 401", err)
	}
}

func forbidden(err error) bool {
	e, ok := err.(*client.Error)
	return ok && e.Status == 403 && e.Code == keygate.EFORBIDDEN
}
