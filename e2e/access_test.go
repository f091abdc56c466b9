package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// keygate access-requests, access-rules ...

var (
	pickupTokenRE = regexp.MustCompile(`kgpt_[A-Z2-7]+`)
	apiKeyRE      = regexp.MustCompile(`kg_test_[0-9A-Za-z]+_[0-9A-Za-z]{6}`)
)

func TestCLIAccess(t *testing.T) {
	e := adminEnv(t)
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")
	admin(t, "services", "create", "--name", "billing", "--url", "http://billing.internal")
	admin(t, "consumers", "create", "--username", "alice", "--group", "partners")
	admin(t, "consumers", "create", "--username", "sam", "--group", "staff")

	// A request an admin approves; the requester picks the key up with the
	// pickup token only.
	out := admin(t, "access", "request", "alice", "--service", "orders", "--plan", "gold", "--reason", "order sync")
	tokens := pickupTokenRE.FindAllString(out, -1)
	if len(tokens) != 1 || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("request printed %d pickup tokens:\n%s", len(tokens), out)
	}
	list := adminJSON[keygate.List[*keygate.AccessRequest]](t, "access", "list", "--status", "pending", "--consumer", "alice")
	if len(list.Data) != 1 || list.Data[0].Plan != "gold" {
		t.Fatalf("pending requests %+v", list.Data)
	}
	id := list.Data[0].ID
	wantTable(t, admin(t, "access", "list"), accessHeader, []string{id, "pending", "gold", "bootstrap"}) // the admin token of KEYGATE_ADMIN_TOKEN
	wantTable(t, admin(t, "access", "approve", id, "--reason", "ok"), accessHeader, []string{id, "approved", "bootstrap"})

	_, stderr, err := runAdmin(t, "", "access", "deny", id)
	if !reported(err) || !strings.Contains(stderr, "CONFLICT") {
		t.Errorf("deciding twice: %v %q", err, stderr)
	}

	t.Setenv("KEYGATE_ADMIN_TOKEN", "") // the pickup token is enough
	t.Setenv("KEYGATE_PICKUP_TOKEN", tokens[0])
	out = admin(t, "access", "pickup", id)
	keys := apiKeyRE.FindAllString(out, -1)
	if len(keys) != 1 || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("pickup printed %d keys:\n%s", len(keys), out)
	}
	_, stderr, err = runAdmin(t, "", "access", "pickup", id)
	if !reported(err) || !strings.Contains(stderr, "picked up already") {
		t.Errorf("second pickup: %v %q", err, stderr)
	}
	t.Setenv("KEYGATE_PICKUP_TOKEN", "")
	_, stderr, err = runAdmin(t, "", "access", "pickup", id)
	if !reported(err) || !strings.Contains(stderr, "no pickup token or admin token") {
		t.Errorf("pickup without any token: %v %q", err, stderr)
	}
	t.Setenv("KEYGATE_ADMIN_TOKEN", e.Token)

	if out, _, err := runAdmin(t, keys[0]+"\n", "keys", "verify", "-", "--service", "orders"); err != nil {
		t.Errorf("the picked up key does not verify for orders: %v\n%s", err, out)
	}
	if _, _, err := runAdmin(t, keys[0]+"\n", "keys", "verify", "-", "--service", "billing"); !reported(err) {
		t.Errorf("the picked up key verifies for billing: %v", err)
	}

	// A rule approves at once; the pickup token comes from stdin.
	wantTable(t, admin(t, "access-rules", "create", "staff-internal", "--plan", "internal", "--group", "staff", "--service", "orders"),
		accessRuleHeader, []string{"staff-internal", "internal", "staff", "true"})
	created := adminJSON[keygate.CreatedAccessRequest](t, "access", "request", "sam", "--service", "orders", "--plan", "internal")
	if created.Status != keygate.AccessApproved || created.DecidedBy != "rule:staff-internal" || created.PickupToken == "" {
		t.Fatalf("request by rule %+v", created)
	}
	p := adminJSON[keygate.AccessPickup](t, "access", "pickup", created.ID, "--pickup-token", created.PickupToken)
	if p.Key.ID != created.KeyID || !apiKeyRE.MatchString(p.Key.Key) {
		t.Errorf("pickup --json %+v", p)
	}

	// A denial.
	_, stderr, err = runAdmin(t, "", "access", "request", "alice", "--route", "nope")
	if !reported(err) || !strings.Contains(stderr, `routes[0]: no route "nope"`) {
		t.Errorf("unknown route: %v %q", err, stderr)
	}
	d := adminJSON[keygate.CreatedAccessRequest](t, "access", "request", "alice", "--service", "billing")
	got := adminJSON[keygate.AccessRequest](t, "access", "deny", d.ID, "--reason", "no")
	if got.Status != keygate.AccessDenied || got.DecisionReason != "no" {
		t.Errorf("denied %+v", got)
	}
	if got := adminJSON[keygate.AccessRequest](t, "access", "get", d.ID); got.Status != keygate.AccessDenied {
		t.Errorf("get %+v", got)
	}

	// The rest of the rule's life.
	r := adminJSON[keygate.AccessRule](t, "access-rules", "update", "staff-internal", "--enabled=false", "--group", "staff", "--group", "ops")
	if r.Enabled || strings.Join(r.ConsumerGroups, ",") != "staff,ops" || len(r.Services) != 1 {
		t.Errorf("updated rule %+v", r)
	}
	wantTable(t, admin(t, "access-rules", "list"), accessRuleHeader, []string{"staff-internal", "staff,ops", "false"})
	if got := adminJSON[keygate.AccessRule](t, "access-rules", "get", r.ID); got.Name != "staff-internal" {
		t.Errorf("get %+v", got)
	}
	if out := admin(t, "access-rules", "delete", "staff-internal"); out != "Deleted access rule staff-internal.\n" {
		t.Errorf("delete printed %q", out)
	}
}
