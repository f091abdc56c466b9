package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// keys update changes a key's name, tags and plan; --plan "" removes the
// key's own plan; nothing else can be changed.
func TestCLIKeyUpdate(t *testing.T) {
	e := adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "plans", "create", "--name", "gold", "--rate", "10")
	k := adminJSON[keygate.IssuedKey](t, "keys", "create", "alice", "--name", "ci", "--tag", "ci")
	gold, err := e.Client.Plan(t.Context(), "gold")
	if err != nil {
		t.Fatal(err)
	}

	out := admin(t, "keys", "update", k.ID, "--name", "deploy", "--tag", "prod", "--tag", "eu", "--plan", "gold")
	wantTable(t, out, keyHeader, []string{k.ID, "deploy", "active", gold.ID})
	got, err := e.Client.Key(t.Context(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "deploy" || strings.Join(got.Tags, ",") != "prod,eu" || got.Plan == nil || got.Plan.ID != gold.ID {
		t.Fatalf("updated %+v", got)
	}

	// One flag changes one field only.
	got2 := adminJSON[keygate.APIKey](t, "keys", "update", k.ID, "--plan", "")
	if got2.Plan != nil || got2.Name != "deploy" || len(got2.Tags) != 2 {
		t.Errorf(`--plan "" gave %+v`, got2)
	}
	got2 = adminJSON[keygate.APIKey](t, "keys", "update", k.ID, "--tag", "", "--name", "")
	if got2.Name != "" || got2.Tags == nil || len(got2.Tags) != 0 {
		t.Errorf(`--tag "" --name "" gave %+v`, got2)
	}

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no flags", []string{"keys", "update", k.ID}, "nothing to change"},
		{"an unknown plan", []string{"keys", "update", k.ID, "--plan", "nope"}, `plan: no plan "nope" (INVALID`},
		{"a missing key", []string{"keys", "update", "00000000-0000-7000-8000-000000000000", "--name", "x"}, "(NOT_FOUND"},
		{"a restriction is not a flag", []string{"keys", "update", k.ID, "--cidr", "10.0.0.0/8"}, "unknown flag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAdmin(t, "", tt.args...)
			if err == nil || out != "" || !strings.Contains(errOut+err.Error(), tt.msg) {
				t.Errorf("err %v, stdout %q, stderr %q; want an error about %s", err, out, errOut, tt.msg)
			}
			if tt.name != "a restriction is not a flag" && !errors.Is(err, errReported) {
				t.Errorf("err %v, want it reported", err)
			}
		})
	}
}
