package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func testAdminTokens(t *testing.T, s suite) {
	e := s.env(t)
	count := func(want int) {
		t.Helper()
		n, err := e.store.CountAdminTokens(e.ctx)
		check(t, err)
		if n != want {
			t.Errorf("CountAdminTokens = %d, want %d", n, want)
		}
	}
	count(0)

	tok := &keygate.AdminToken{Name: "bootstrap", Hash: []byte{0x00, 0x01, 0xfe, 0xff}, Role: keygate.RoleAdmin}
	check(t, e.store.CreateAdminToken(e.ctx, tok))
	if !keygate.LooksLikeID(tok.ID) || !tok.CreatedAt.Equal(e.now()) {
		t.Errorf("created token has id %q, created_at %v", tok.ID, tok.CreatedAt)
	}
	e.wantChanges(t, keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Created, ID: tok.ID})
	count(1)

	got, err := e.store.FindAdminToken(e.ctx, []byte{0x00, 0x01, 0xfe, 0xff})
	check(t, err)
	wantEqual(t, got, tok)

	conflicts := []struct {
		name  string
		token *keygate.AdminToken
		field string
	}{
		{"a taken hash", &keygate.AdminToken{Name: "copy", Hash: tok.Hash, Role: keygate.RoleAdmin}, "hash"},
		{"a taken name", &keygate.AdminToken{Name: "bootstrap", Hash: []byte("fresh"), Role: keygate.RoleAdmin}, "name"},
	}
	for _, tt := range conflicts {
		t.Run(tt.name+" is a CONFLICT", func(t *testing.T) {
			wantError(t, e.store.CreateAdminToken(e.ctx, tt.token), keygate.ECONFLICT, tt.field)
			if tt.token.ID != "" {
				t.Errorf("failed create set id %q", tt.token.ID)
			}
			e.wantChanges(t)
			count(1)
		})
	}

	_, err = e.store.FindAdminToken(e.ctx, []byte{0x00, 0x01, 0xfe})
	wantError(t, err, keygate.ENOTFOUND, "")

	check(t, e.store.CreateAdminToken(e.ctx, &keygate.AdminToken{Name: "ci", Hash: []byte("other"), Role: keygate.RoleAdmin}))
	count(2)
}

// testPutAdminToken checks that putting a token replaces the one of the same
// name (or hash) at once, which is how a changed KEYGATE_ADMIN_TOKEN revokes
// the previous one.
func testPutAdminToken(t *testing.T, s suite) {
	e := s.env(t)
	old := &keygate.AdminToken{Name: "bootstrap", Hash: []byte("token-a"), Role: keygate.RoleAdmin}
	check(t, e.store.CreateAdminToken(e.ctx, old))
	other := &keygate.AdminToken{Name: "ci", Hash: []byte("token-ci"), Role: keygate.RoleAdmin}
	check(t, e.store.CreateAdminToken(e.ctx, other))
	e.changes.take()

	tests := []struct {
		name string
		put  *keygate.AdminToken
		// gone are the hashes no longer found after the put; kept are all those found.
		gone, kept [][]byte
		// replaced returns the token the put replaces; nil when it replaces none.
		replaced func() *keygate.AdminToken
		// same: the put changes nothing, and the stored token keeps its id.
		same bool
	}{
		{name: "a new hash replaces the token of that name",
			put:  &keygate.AdminToken{Name: "bootstrap", Hash: []byte("token-b"), Role: keygate.RoleAdmin},
			gone: [][]byte{[]byte("token-a")}, kept: [][]byte{[]byte("token-b"), []byte("token-ci")},
			replaced: func() *keygate.AdminToken { return old }},
		{name: "the same hash and role again changes nothing",
			put:  &keygate.AdminToken{Name: "bootstrap", Hash: []byte("token-b"), Role: keygate.RoleAdmin},
			kept: [][]byte{[]byte("token-b"), []byte("token-ci")}, same: true},
		{name: "a new role replaces the token",
			put:  &keygate.AdminToken{Name: "bootstrap", Hash: []byte("token-b"), Role: "reader"},
			kept: [][]byte{[]byte("token-b"), []byte("token-ci")},
			replaced: func() *keygate.AdminToken {
				t, _ := e.store.FindAdminToken(e.ctx, []byte("token-b"))
				return t
			}},
		{name: "a hash stored under another name moves to this name",
			put:      &keygate.AdminToken{Name: "renamed", Hash: []byte("token-ci"), Role: keygate.RoleAdmin},
			kept:     [][]byte{[]byte("token-b"), []byte("token-ci")},
			replaced: func() *keygate.AdminToken { return other }},
		{name: "a new name adds a token",
			put:  &keygate.AdminToken{Name: "ops", Hash: []byte("token-ops"), Role: keygate.RoleAdmin},
			kept: [][]byte{[]byte("token-b"), []byte("token-ci"), []byte("token-ops")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var replaced, previous *keygate.AdminToken
			if tt.replaced != nil {
				replaced = tt.replaced()
			}
			if tt.same {
				var err error
				previous, err = e.store.FindAdminToken(e.ctx, tt.put.Hash)
				check(t, err)
			}
			e.clock.Advance(time.Minute)
			check(t, e.store.PutAdminToken(e.ctx, tt.put))

			switch {
			case tt.same:
				wantEqual(t, tt.put, previous)
				e.wantChanges(t)
			default:
				if !keygate.LooksLikeID(tt.put.ID) || !tt.put.CreatedAt.Equal(e.now()) {
					t.Errorf("put token has id %q, created_at %v, want a new id and %v", tt.put.ID, tt.put.CreatedAt, e.now())
				}
				want := []keygate.Change{{Kind: keygate.AdminTokenChanged, Op: keygate.Created, ID: tt.put.ID}}
				if replaced != nil {
					want = append(want, keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Deleted, ID: replaced.ID})
				}
				e.wantChanges(t, want...)
			}
			got, err := e.store.FindAdminToken(e.ctx, tt.put.Hash)
			check(t, err)
			wantEqual(t, got, tt.put)
			for _, h := range tt.gone {
				_, err := e.store.FindAdminToken(e.ctx, h)
				wantError(t, err, keygate.ENOTFOUND, "")
			}
			for _, h := range tt.kept {
				if _, err := e.store.FindAdminToken(e.ctx, h); err != nil {
					t.Errorf("token %q: %v", h, err)
				}
			}
			n, err := e.store.CountAdminTokens(e.ctx)
			check(t, err)
			if n != len(tt.kept) {
				t.Errorf("%d tokens stored, want %d", n, len(tt.kept))
			}
		})
	}

	t.Run("a token without a name is INVALID", func(t *testing.T) {
		wantError(t, e.store.PutAdminToken(e.ctx, &keygate.AdminToken{Hash: []byte("x"), Role: keygate.RoleAdmin}), keygate.EINVALID, "name")
		e.wantChanges(t)
	})
}

func testAdminTokenListDelete(t *testing.T, s suite) {
	e := s.env(t)
	var want []*keygate.AdminToken
	for _, name := range []string{"zeta", "alpha", "mid"} { // names sort otherwise than creation
		e.clock.Advance(time.Second)
		tok := &keygate.AdminToken{Name: name, Hash: []byte("hash-" + name), Role: keygate.RoleAdmin}
		check(t, e.store.CreateAdminToken(e.ctx, tok))
		want = append(want, tok)
	}
	e.changes.take()
	ids := func(ts []*keygate.AdminToken) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}

	for _, limit := range []int{1, 2, 100} {
		got := walk(t, func(p keygate.Page) ([]*keygate.AdminToken, string, error) {
			return e.store.ListAdminTokens(e.ctx, p)
		}, limit, func(t *keygate.AdminToken) string { return t.ID })
		if !slices.Equal(got, ids(want)) {
			t.Errorf("limit %d: ids\n got %v\nwant %v", limit, got, ids(want))
		}
	}
	listed, _, err := e.store.ListAdminTokens(e.ctx, keygate.Page{})
	check(t, err)
	for i := range listed {
		wantEqual(t, listed[i], want[i])
	}

	tests := []struct {
		name, id string
		code     string
	}{
		{"an existing token", want[1].ID, ""},
		{"the same token again", want[1].ID, keygate.ENOTFOUND},
		{"an unknown id", missingID, keygate.ENOTFOUND},
		{"not an id", "alpha", keygate.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run("delete "+tt.name, func(t *testing.T) {
			err := e.store.DeleteAdminToken(e.ctx, tt.id)
			if tt.code != "" {
				wantError(t, err, tt.code, "")
				e.wantChanges(t)
				return
			}
			check(t, err)
			e.wantChanges(t, keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Deleted, ID: tt.id})
		})
	}
	_, err = e.store.FindAdminToken(e.ctx, want[1].Hash)
	wantError(t, err, keygate.ENOTFOUND, "")
	left, _, err := e.store.ListAdminTokens(e.ctx, keygate.Page{})
	check(t, err)
	if got := ids(left); !slices.Equal(got, []string{want[0].ID, want[2].ID}) {
		t.Errorf("left %v, want %v", got, []string{want[0].ID, want[2].ID})
	}
}

// testAdminTokenServices checks that a verifier token's services and a
// scoped token's consumers are kept, and that a put with others replaces
// the token.
func testAdminTokenServices(t *testing.T, s suite) {
	e := s.env(t)
	tok := &keygate.AdminToken{Name: "billing-verifier", Hash: []byte("v1"), Role: keygate.RoleVerifier,
		Services: []string{"svc-b", "svc-a"}}
	check(t, e.store.CreateAdminToken(e.ctx, tok))
	got, err := e.store.FindAdminToken(e.ctx, tok.Hash)
	check(t, err)
	wantEqual(t, got, tok)
	listed, _, err := e.store.ListAdminTokens(e.ctx, keygate.Page{})
	check(t, err)
	if len(listed) != 1 {
		t.Fatalf("listed %d tokens, want 1", len(listed))
	}
	wantEqual(t, listed[0], tok)

	plain := &keygate.AdminToken{Name: "any-verifier", Hash: []byte("v2"), Role: keygate.RoleVerifier}
	check(t, e.store.CreateAdminToken(e.ctx, plain))
	got, err = e.store.FindAdminToken(e.ctx, plain.Hash)
	check(t, err)
	if got.Services != nil || got.Consumers != nil {
		t.Errorf("unrestricted token read back with services %q, consumers %q, want nil", got.Services, got.Consumers)
	}
	portal := &keygate.AdminToken{Name: "portal-alice", Hash: []byte("p1"), Role: keygate.RoleOperator, Consumers: []string{"c-alice"}}
	check(t, e.store.CreateAdminToken(e.ctx, portal))
	got, err = e.store.FindAdminToken(e.ctx, portal.Hash)
	check(t, err)
	wantEqual(t, got, portal)
	e.changes.take()

	// The same name, hash and role with other services or consumers is
	// another token.
	for _, tt := range []struct{ old, put *keygate.AdminToken }{
		{tok, &keygate.AdminToken{Name: "billing-verifier", Hash: []byte("v1"), Role: keygate.RoleVerifier, Services: []string{"svc-a"}}},
		{portal, &keygate.AdminToken{Name: "portal-alice", Hash: []byte("p1"), Role: keygate.RoleOperator, Consumers: []string{"c-alice", "c-bob"}}},
	} {
		check(t, e.store.PutAdminToken(e.ctx, tt.put))
		if tt.put.ID == tt.old.ID {
			t.Errorf("put %s with other scopes kept id %q", tt.put.Name, tt.put.ID)
		}
		e.wantChanges(t, keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Created, ID: tt.put.ID},
			keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Deleted, ID: tt.old.ID})
		got, err = e.store.FindAdminToken(e.ctx, tt.put.Hash)
		check(t, err)
		wantEqual(t, got, tt.put)
	}
}
