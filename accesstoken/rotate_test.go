package accesstoken_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/accesstoken"
)

var policy = accesstoken.RotationPolicy{
	Alg:           accesstoken.ES256,
	SignFor:       24 * time.Hour,
	PublishBefore: time.Hour,
	KeepAfter:     10*time.Minute + accesstoken.DefaultLeeway,
}

func rotate(tb testing.TB, set *accesstoken.KeySet, now time.Time) (*accesstoken.KeySet, bool) {
	tb.Helper()
	out, changed, err := accesstoken.Rotate(set, policy, now)
	if err != nil {
		tb.Fatal(err)
	}
	return out, changed
}

func states(set *accesstoken.KeySet) map[accesstoken.KeyState]int {
	m := map[accesstoken.KeyState]int{}
	for _, k := range set.Keys {
		m[k.State]++
	}
	return m
}

func jwksKIDs(tb testing.TB, set *accesstoken.KeySet) map[string]bool {
	tb.Helper()
	doc, err := json.Marshal(set.JWKS())
	if err != nil {
		tb.Fatal(err)
	}
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(doc, &parsed)
	kids := map[string]bool{}
	for _, k := range parsed.Keys {
		kids[k["kid"].(string)] = true
	}
	return kids
}

func TestRotationLifecycle(t *testing.T) {
	// First run: an empty set gets a current key at once.
	set, changed := rotate(t, &accesstoken.KeySet{}, t0)
	first := set.Current()
	if !changed || first == nil || len(set.Keys) != 1 {
		t.Fatalf("empty set rotated to %v (changed %v), want one current key", set.Keys, changed)
	}
	if _, changed := rotate(t, set, t0.Add(time.Hour)); changed {
		t.Error("mid-term rotation changed the set")
	}

	// An hour before the term ends, the next key is published, not used.
	publishAt := t0.Add(policy.SignFor - policy.PublishBefore)
	set, changed = rotate(t, set, publishAt)
	if !changed || states(set)[accesstoken.Next] != 1 || set.Current().ID != first.ID {
		t.Fatalf("at publish time: %v, want the first key current and one next", set.Keys)
	}
	var next *accesstoken.SigningKey
	for _, k := range set.Keys {
		if k.State == accesstoken.Next {
			next = k
		}
	}
	if !jwksKIDs(t, set)[next.ID] {
		t.Error("the next key is not in the JWKS before it signs")
	}
	// A gateway caches the JWKS now, while the old key signs.
	cached := set.PublicKeys()
	inFlight := issue(t, set.Current(), claimsAt(t, grant(), publishAt.Add(59*time.Minute)))

	// At the end of the term the next key takes over; the old one retires.
	switchAt := t0.Add(policy.SignFor)
	set, changed = rotate(t, set, switchAt)
	if !changed || set.Current().ID != next.ID || states(set)[accesstoken.Retiring] != 1 {
		t.Fatalf("at the end of the term: %v, want the next key current and the first retiring", set.Keys)
	}
	fresh := issue(t, set.Current(), claimsAt(t, grant(), switchAt))
	v := &accesstoken.Verifier{Issuer: issuer, Audience: aud, Keys: cached, Now: func() time.Time { return switchAt.Add(time.Minute) }}
	if _, err := v.Verify(fresh); err != nil {
		t.Errorf("a token of the new key, against the JWKS cached before it signed: %v", err)
	}
	v.Keys = set.PublicKeys()
	if _, err := v.Verify(inFlight); err != nil {
		t.Errorf("a token of the retiring key while it retires: %v", err)
	}

	// The retiring key stays until its last token expired, then goes.
	set, _ = rotate(t, set, switchAt.Add(policy.KeepAfter-time.Second))
	if !jwksKIDs(t, set)[first.ID] {
		t.Error("the retiring key left the JWKS before its tokens expired")
	}
	set, changed = rotate(t, set, switchAt.Add(policy.KeepAfter))
	if !changed || jwksKIDs(t, set)[first.ID] || len(set.Keys) != 1 {
		t.Errorf("after keep_after: %v, want only the current key", set.Keys)
	}
	v.Keys, v.Now = set.PublicKeys(), func() time.Time { return switchAt.Add(policy.KeepAfter) }
	if _, err := v.Verify(inFlight); !errors.Is(err, accesstoken.ErrUnknownKey) && !errors.Is(err, accesstoken.ErrExpired) {
		t.Errorf("the old key's token after it left: %v", err)
	}
}

func TestRotationNeverSignsWithAnUnpublishedKey(t *testing.T) {
	set, _ := rotate(t, &accesstoken.KeySet{}, t0)
	first := set.Current().ID
	// The job did not run for two terms: at its next run the key is
	// overdue, but a next key must be published first.
	late := t0.Add(2 * policy.SignFor)
	set, changed := rotate(t, set, late)
	if !changed || set.Current().ID != first || states(set)[accesstoken.Next] != 1 {
		t.Fatalf("overdue without a next key: %v, want the old key to keep signing and a next key published", set.Keys)
	}
	if set, _ = rotate(t, set, late.Add(policy.PublishBefore-time.Second)); set.Current().ID != first {
		t.Error("the next key signed before it was published for publish_before")
	}
	if set, _ = rotate(t, set, late.Add(policy.PublishBefore)); set.Current().ID == first {
		t.Error("the next key did not take over once published for publish_before")
	}
}

func TestRotateDoesNotModifyItsInput(t *testing.T) {
	set, _ := rotate(t, &accesstoken.KeySet{}, t0)
	before := *set.Keys[0]
	rotate(t, set, t0.Add(policy.SignFor-policy.PublishBefore))
	rotate(t, set, t0.Add(10*policy.SignFor))
	if len(set.Keys) != 1 || *set.Keys[0] != before {
		t.Errorf("input changed: %v", set.Keys)
	}
}

func TestRotationPolicyValidate(t *testing.T) {
	tests := map[string]func(*accesstoken.RotationPolicy){
		"alg HS256":                  func(p *accesstoken.RotationPolicy) { p.Alg = "HS256" },
		"no sign_for":                func(p *accesstoken.RotationPolicy) { p.SignFor = 0 },
		"publish_before >= sign_for": func(p *accesstoken.RotationPolicy) { p.PublishBefore = p.SignFor },
		"no keep_after":              func(p *accesstoken.RotationPolicy) { p.KeepAfter = 0 },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			p := policy
			change(&p)
			if _, _, err := accesstoken.Rotate(&accesstoken.KeySet{}, p, t0); err == nil {
				t.Error("Rotate accepted the policy")
			}
		})
	}
}

func TestSigningKeyPrintsNoPrivatePart(t *testing.T) {
	for _, alg := range []string{accesstoken.ES256, accesstoken.EdDSA} {
		k := currentKey(t, alg)
		want := alg + " key " + k.ID + " (current)"
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("rotated", "key", k)
		for _, got := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", *k), fmt.Sprintf("%v", []*accesstoken.SigningKey{k})} {
			if !strings.Contains(got, want) || strings.Contains(got, "{") {
				t.Errorf("%s printed as %q, want only %q", alg, got, want)
			}
		}
		if !strings.Contains(logged.String(), want) {
			t.Errorf("%s logged as %q", alg, logged.String())
		}
	}
}
