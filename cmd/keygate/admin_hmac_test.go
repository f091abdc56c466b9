package main

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestCLIHMACCredentials(t *testing.T) {
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")

	out := admin(t, "hmac-credentials", "create", "alice", "--username", "alice-signer")
	if !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create:\n%s", out)
	}
	secret := strings.Fields(strings.SplitN(out, "its secret:", 2)[1])[0]
	given := "a-secret-typed-in-by-the-operator-0123"
	out, errOut, err := runAdmin(t, given+"\n", "hmac-credentials", "create", "alice", "--username", "alice-2", "--secret-stdin", "--json")
	if err != nil || !strings.Contains(out, `"secret": "`+given+`"`) {
		t.Fatalf("create --secret-stdin: %v %s\n%s", err, errOut, out)
	}

	list := adminJSON[keygate.List[*keygate.HMACCredential]](t, "hmac-credentials", "list", "--consumer", "alice")
	if len(list.Data) != 2 || list.Data[0].Username != "alice-signer" {
		t.Fatalf("list %+v", list.Data)
	}
	id := list.Data[0].ID
	for _, args := range [][]string{{"hmac-credentials", "list"}, {"hmac-credentials", "get", "alice", id}, {"hmac-credentials", "list", "--json"}} {
		if out := admin(t, args...); strings.Contains(out, secret) || strings.Contains(out, given) || !strings.Contains(out, id) {
			t.Errorf("keygate %s shows a secret or not the id:\n%s", strings.Join(args, " "), out)
		}
	}
	wantTable(t, admin(t, "hmac-credentials", "revoke", "alice", id), hmacHeader, []string{id, "alice-signer", "revoked"})
	admin(t, "hmac-credentials", "delete", "alice", id)
	if got := adminJSON[keygate.List[*keygate.HMACCredential]](t, "hmac-credentials", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}

	route := adminJSON[keygate.Route](t, "routes", "create", "--name", "signed", "--service", "orders", "--path", "/signed",
		"--hmac-auth", "--hmac-clock-skew", "60", "--hmac-enforce-headers", "date,request-line", "--hmac-validate-body")
	h := route.HMACAuth
	if h == nil || h.ClockSkew != 60 || strings.Join(h.EnforceHeaders, " ") != "date request-line" || !h.ValidateRequestBody || !h.ReplayProtection {
		t.Fatalf("route hmac_auth %+v", h)
	}
	route = adminJSON[keygate.Route](t, "routes", "update", "signed", "--hmac-replay-protection=false")
	if h := route.HMACAuth; h == nil || h.ReplayProtection || h.ClockSkew != 60 {
		t.Fatalf("after update %+v", h)
	}
	if route = adminJSON[keygate.Route](t, "routes", "update", "signed", "--hmac-auth=false", "--key-auth"); route.HMACAuth != nil || route.KeyAuth == nil {
		t.Fatalf("after switching to key-auth %+v %+v", route.HMACAuth, route.KeyAuth)
	}
}
