package storetest

import (
	"testing"

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
	e.wantChanges(t, keygate.Change{Kind: keygate.AdminTokenChanged, ID: tok.ID})
	count(1)

	got, err := e.store.FindAdminToken(e.ctx, []byte{0x00, 0x01, 0xfe, 0xff})
	check(t, err)
	wantEqual(t, got, tok)

	dup := &keygate.AdminToken{Name: "copy", Hash: tok.Hash, Role: keygate.RoleAdmin}
	wantError(t, e.store.CreateAdminToken(e.ctx, dup), keygate.ECONFLICT, "")
	e.wantChanges(t)
	count(1)

	_, err = e.store.FindAdminToken(e.ctx, []byte{0x00, 0x01, 0xfe})
	wantError(t, err, keygate.ENOTFOUND, "")

	check(t, e.store.CreateAdminToken(e.ctx, &keygate.AdminToken{Name: "ci", Hash: []byte("other"), Role: keygate.RoleAdmin}))
	count(2)
}
