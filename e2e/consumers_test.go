package e2e

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// keygate consumers ...

func TestCLIConsumers(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	out := admin(t, "consumers", "create", "--username", "alice", "--custom-id", "crm-1", "--group", "gold")
	wantTable(t, out, consumerHeader, []string{"alice", "crm-1", "gold", "-"})
	admin(t, "consumers", "create", "--custom-id", "crm-2")
	wantTable(t, admin(t, "consumers", "list"), consumerHeader, []string{"alice"}, []string{"-", "crm-2"})

	c := adminJSON[keygate.Consumer](t, "consumers", "update", "alice", "--group", "silver", "--group", "beta")
	if c.Username != "alice" || c.CustomID != "crm-1" || strings.Join(c.Groups, ",") != "silver,beta" {
		t.Errorf("updated %+v", c)
	}
	if got := adminJSON[keygate.Consumer](t, "consumers", "get", "alice"); got.ID != c.ID {
		t.Errorf("get %+v", got)
	}
	admin(t, "consumers", "delete", "alice")
	if got := adminJSON[keygate.List[*keygate.Consumer]](t, "consumers", "list"); len(got.Data) != 1 {
		t.Errorf("after delete %+v", got.Data)
	}
}

// A consumer's rotation policy from the command line: durations become
// seconds; update changes only the policy fields given, and --rotate-every
// 0 removes the policy.
func TestCLIConsumerRotation(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	pub := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) // the X25519 base point
	out := admin(t, "consumers", "create", "--username", "acme", "--rotate-every", "720h", "--rotate-overlap", "168h",
		"--rotate-notice", "336h", "--auto-rotate", "--public-key", pub)
	wantTable(t, out, consumerHeader, []string{"acme", "30d,auto,sealed"})
	c := adminJSON[keygate.Consumer](t, "consumers", "get", "acme")
	want := keygate.RotationPolicy{Every: 30 * 86400, Overlap: 7 * 86400, Notice: 14 * 86400, Auto: true}
	if c.RotationPolicy == nil || *c.RotationPolicy != want || c.PublicKey != pub {
		t.Fatalf("created %+v %+v", c, c.RotationPolicy)
	}

	c = adminJSON[keygate.Consumer](t, "consumers", "update", "acme", "--rotate-every", "2160h", "--auto-rotate=false", "--public-key", "")
	want.Every, want.Auto = 90*86400, false
	if c.RotationPolicy == nil || *c.RotationPolicy != want || c.PublicKey != "" {
		t.Errorf("updated %+v %+v", c, c.RotationPolicy)
	}
	wantTable(t, admin(t, "consumers", "update", "acme", "--group", "gold"), consumerHeader, []string{"acme", "gold", "90d"})
	c = adminJSON[keygate.Consumer](t, "consumers", "update", "acme", "--rotate-every", "0")
	if c.RotationPolicy != nil {
		t.Errorf("after --rotate-every 0: %+v", c.RotationPolicy)
	}

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"every under a day", []string{"consumers", "create", "--username", "b", "--rotate-every", "1h"}, "rotation_policy.every"},
		{"policy without every", []string{"consumers", "update", "acme", "--rotate-overlap", "1h"}, "rotation_policy.every"},
		{"auto without overlap", []string{"consumers", "create", "--username", "b", "--rotate-every", "720h", "--auto-rotate"}, "rotation_policy.overlap"},
		{"bad public key", []string{"consumers", "update", "acme", "--public-key", "nope"}, "public_key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runAdmin(t, "", tt.args...)
			if err == nil || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stderr %q; want an error about %s", err, errOut, tt.msg)
			}
		})
	}
}
