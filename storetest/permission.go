package storetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// testPermissions checks permissions and roles: names checked and never
// changed, references to ones that do not exist refused, ones still held
// not deleted, and a key's lookup bringing its roles' permissions.
func testPermissions(t *testing.T, s suite) {
	e := s.env(t)
	perm := func(name string) *keygate.Permission {
		t.Helper()
		p := &keygate.Permission{Name: name, Description: "may " + name}
		check(t, e.store.CreatePermission(e.ctx, p))
		return p
	}
	read, write := perm("documents.read"), perm("documents.write")
	perm("admin")
	perm("billing.read")
	e.wantChanges(t,
		keygate.Change{Kind: keygate.PermissionChanged, Op: keygate.Created, ID: read.ID},
		keygate.Change{Kind: keygate.PermissionChanged, Op: keygate.Created, ID: write.ID},
		keygate.Change{Kind: keygate.PermissionChanged, Op: keygate.Created, ID: mustFindPermission(t, e, "admin").ID},
		keygate.Change{Kind: keygate.PermissionChanged, Op: keygate.Created, ID: mustFindPermission(t, e, "billing.read").ID})

	t.Run("permission names are checked and unique", func(t *testing.T) {
		wantError(t, e.store.CreatePermission(e.ctx, &keygate.Permission{Name: "Documents.Read"}), keygate.EINVALID, "name")
		wantError(t, e.store.CreatePermission(e.ctx, &keygate.Permission{Name: "documents.read"}), keygate.ECONFLICT, "name")
		got, err := e.store.FindPermission(e.ctx, read.ID)
		check(t, err)
		wantEqual(t, got, read)
	})
	t.Run("a name cannot change, a description can", func(t *testing.T) {
		_, err := e.store.UpdatePermission(e.ctx, "documents.read", func(p *keygate.Permission) error { p.Name = "docs.read"; return nil })
		wantError(t, err, keygate.EINVALID, "name")
		p, err := e.store.UpdatePermission(e.ctx, "documents.read", func(p *keygate.Permission) error { p.Description = "read"; return nil })
		check(t, err)
		if p.Description != "read" {
			t.Fatalf("description %q", p.Description)
		}
		e.changes.take()
	})

	editor := &keygate.Role{Name: "editor", Permissions: []string{"documents.read", "documents.write"}}
	t.Run("a role needs permissions that exist", func(t *testing.T) {
		r := &keygate.Role{Name: "ghost", Permissions: []string{"documents.read", "nope"}}
		wantError(t, e.store.CreateRole(e.ctx, r), keygate.ENOTFOUND, "permissions[1]")
		wantError(t, e.store.CreateRole(e.ctx, &keygate.Role{Name: "twice", Permissions: []string{"admin", "admin"}}), keygate.EINVALID, "permissions[1]")
		check(t, e.store.CreateRole(e.ctx, editor))
		e.wantChanges(t, keygate.Change{Kind: keygate.RoleChanged, Op: keygate.Created, ID: editor.ID})
	})

	c := newConsumer("alice")
	c.Permissions, c.Roles = []string{"billing.read"}, []string{"editor"}
	check(t, e.store.CreateConsumer(e.ctx, c))
	k := newKey(c.ID, "perm-key-1")
	k.Permissions = []string{"admin"}
	check(t, e.store.CreateKey(e.ctx, k))
	plain := newKey(c.ID, "perm-key-2")
	check(t, e.store.CreateKey(e.ctx, plain))
	e.changes.take()

	t.Run("keys and consumers refer to permissions and roles that exist", func(t *testing.T) {
		bad := newKey(c.ID, "perm-key-3")
		bad.Roles = []string{"nope"}
		wantError(t, e.store.CreateKey(e.ctx, bad), keygate.ENOTFOUND, "roles[0]")
		bc := newConsumer("bob")
		bc.Permissions = []string{"nope"}
		wantError(t, e.store.CreateConsumer(e.ctx, bc), keygate.ENOTFOUND, "permissions[0]")
		_, err := e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error { k.Permissions = []string{"Bad Name"}; return nil })
		wantError(t, err, keygate.EINVALID, "permissions[0]")
	})

	t.Run("a lookup brings what the key holds", func(t *testing.T) {
		gotK, gotC, err := e.store.LookupKey(e.ctx, k.Identifier)
		check(t, err)
		perms, roles := keygate.EffectivePermissions(gotK, gotC, gotK.RolePermissions)
		wantLists(t, perms, []string{"admin", "billing.read", "documents.read", "documents.write"})
		wantLists(t, roles, []string{"editor"})
		kcs, err := e.store.LookupKeys(e.ctx, []string{k.Identifier, plain.Identifier})
		check(t, err)
		for _, kc := range kcs {
			perms, _ := keygate.EffectivePermissions(kc.Key, kc.Consumer, kc.Key.RolePermissions)
			want := []string{"billing.read", "documents.read", "documents.write"} // the consumer's
			if kc.Key.ID == k.ID {
				want = append([]string{"admin"}, want...)
			}
			wantLists(t, perms, want)
		}
	})

	t.Run("a key's permissions and roles can be updated", func(t *testing.T) {
		got, err := e.store.UpdateKey(e.ctx, plain.ID, func(k *keygate.APIKey) error {
			k.Permissions, k.Roles = []string{"admin"}, []string{"editor"}
			return nil
		})
		check(t, err)
		wantLists(t, got.Roles, []string{"editor"})
		e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: plain.ID, KeyIdentifier: plain.Identifier})
		found, err := e.store.FindKey(e.ctx, plain.ID)
		check(t, err)
		wantLists(t, found.Permissions, []string{"admin"})
	})

	t.Run("a role's permissions change, reported", func(t *testing.T) {
		_, err := e.store.UpdateRole(e.ctx, "editor", func(r *keygate.Role) error { r.Permissions = []string{"documents.read"}; return nil })
		check(t, err)
		e.wantChanges(t, keygate.Change{Kind: keygate.RoleChanged, Op: keygate.Updated, ID: editor.ID})
		gotK, gotC, err := e.store.LookupKey(e.ctx, k.Identifier)
		check(t, err)
		perms, _ := keygate.EffectivePermissions(gotK, gotC, gotK.RolePermissions)
		wantLists(t, perms, []string{"admin", "billing.read", "documents.read"})
		_, err = e.store.UpdateRole(e.ctx, "editor", func(r *keygate.Role) error { r.Name = "writer"; return nil })
		wantError(t, err, keygate.EINVALID, "name")
	})

	t.Run("one still held is not deleted", func(t *testing.T) {
		err := e.store.DeletePermission(e.ctx, "admin")
		wantError(t, err, keygate.ECONFLICT, "")
		if msg := keygate.ErrorMessage(err); !strings.Contains(msg, "2 key(s)") {
			t.Errorf("message %q does not say how many keys hold it", msg)
		}
		wantError(t, e.store.DeletePermission(e.ctx, "documents.read"), keygate.ECONFLICT, "")
		wantError(t, e.store.DeleteRole(e.ctx, "editor"), keygate.ECONFLICT, "")
		check(t, e.store.DeletePermission(e.ctx, "documents.write")) // no longer in the role
		e.wantChanges(t, keygate.Change{Kind: keygate.PermissionChanged, Op: keygate.Deleted, ID: write.ID})
	})

	t.Run("released, deleted", func(t *testing.T) {
		_, err := e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error { c.Roles = nil; return nil })
		check(t, err)
		_, err = e.store.UpdateKey(e.ctx, plain.ID, func(k *keygate.APIKey) error { k.Roles = nil; return nil })
		check(t, err)
		e.changes.take()
		check(t, e.store.DeleteRole(e.ctx, "editor"))
		e.wantChanges(t, keygate.Change{Kind: keygate.RoleChanged, Op: keygate.Deleted, ID: editor.ID})
		roles, _, err := e.store.ListRoles(e.ctx, keygate.Page{})
		check(t, err)
		if len(roles) != 0 {
			t.Fatalf("roles left: %+v", roles)
		}
		perms, _, err := e.store.ListPermissions(e.ctx, keygate.Page{})
		check(t, err)
		if len(perms) != 3 {
			t.Fatalf("%d permissions, want 3", len(perms))
		}
	})
}

// testRoutePermissions checks a route's permission queries: stored by
// method, a bad one refused naming the method and the position.
func testRoutePermissions(t *testing.T, s suite) {
	e := s.env(t)
	r := newRoute("docs", keygate.Ref{ID: e.sharedService(t).ID})
	r.KeyAuth = keygate.NewKeyAuthConfig()
	r.Permissions = map[string]string{"GET": "documents.read", "POST": "documents.write AND (", "*": "admin"}
	err := e.store.CreateRoute(e.ctx, r)
	wantError(t, err, keygate.EINVALID, "permissions.POST")
	if msg := keygate.ErrorMessage(err); !strings.Contains(msg, "permissions.POST: position 22: ") {
		t.Errorf("message %q does not name the position", msg)
	}
	r.Permissions["POST"] = "documents.write OR admin"
	check(t, e.store.CreateRoute(e.ctx, r))
	got, err := e.store.FindRoute(e.ctx, r.ID)
	check(t, err)
	wantEqual(t, got.Permissions, r.Permissions)
	got, err = e.store.UpdateRoute(e.ctx, r.ID, func(r *keygate.Route) error { r.Permissions = nil; return nil })
	check(t, err)
	if got, _ := e.store.FindRoute(e.ctx, r.ID); got.Permissions != nil {
		t.Fatalf("permissions %v after they were removed", got.Permissions)
	}
}

func mustFindPermission(t *testing.T, e *env, ref string) *keygate.Permission {
	t.Helper()
	p, err := e.store.FindPermission(e.ctx, ref)
	check(t, err)
	return p
}

func wantLists(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
