package keyauth_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/permquery"
)

// TestVerifyPermissions checks the permission query of a target against a
// cached key: refused as INSUFFICIENT_PERMISSIONS after the other checks,
// without allocating on a cache hit, and re-read when a role changes.
func TestVerifyPermissions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, p := range []string{"documents.read", "documents.write"} {
		if err := f.store.CreatePermission(ctx, &keygate.Permission{Name: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.CreateRole(ctx, &keygate.Role{Name: "reader", Permissions: []string{"documents.read"}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := f.issue(t, func(k *keygate.APIKey) { k.Roles = []string{"reader"} })
	read, write := permquery.MustCompile("documents.read"), permquery.MustCompile("documents.write")

	if res := f.verify(t, raw, keygate.Target{Permissions: read}); res.Code != keygate.CodeValid {
		t.Fatalf("read: %s", res.Code)
	}
	if res := f.verify(t, raw, keygate.Target{Permissions: write}); res.Code != keygate.CodeInsufficientPermissions {
		t.Fatalf("write: %s, want INSUFFICIENT_PERMISSIONS", res.Code)
	}
	if n := testing.AllocsPerRun(50, func() { f.verify(t, raw, keygate.Target{Permissions: read}) }); n != 0 {
		t.Errorf("a cache hit with a permission query allocates %v times", n)
	}
	reads := f.lookups.reads.Load()
	if _, err := f.store.UpdateRole(ctx, "reader", func(r *keygate.Role) error {
		r.Permissions = []string{"documents.read", "documents.write"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if res := f.verify(t, raw, keygate.Target{Permissions: write}); res.Code != keygate.CodeValid {
		t.Fatalf("write once the role has it: %s", res.Code)
	}
	if got := f.lookups.reads.Load(); got != reads+1 {
		t.Errorf("%d store reads after the role changed, want 1", got-reads)
	}
}
