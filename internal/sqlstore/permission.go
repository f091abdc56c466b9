package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// Permissions and roles are referred to by name, from JSON lists on keys,
// consumers and roles: names never change, and one still held is never
// deleted, so the lists never point nowhere.

var (
	permissionEntity = entity[keygate.Permission]{keygate.PermissionChanged, findPermission, savePermission,
		func(p *keygate.Permission) (*string, *keygate.Timestamps) { return &p.ID, &p.Timestamps }}
	roleEntity = entity[keygate.Role]{keygate.RoleChanged, findRole, saveRole,
		func(r *keygate.Role) (*string, *keygate.Timestamps) { return &r.ID, &r.Timestamps }}
)

const permissionCols = `id, name, description, created_at, updated_at`

const roleCols = `id, name, description, permissions, created_at, updated_at`

func scanPermission(row scanner) (*keygate.Permission, error) {
	p := &keygate.Permission{}
	created, updated := timestamps(&p.Timestamps)
	if err := row.Scan(&p.ID, &p.Name, &p.Description, created, updated); err != nil {
		return nil, err
	}
	return p, nil
}

func scanRole(row scanner) (*keygate.Role, error) {
	r := &keygate.Role{}
	created, updated := timestamps(&r.Timestamps)
	if err := row.Scan(&r.ID, &r.Name, &r.Description, listCol(&r.Permissions), created, updated); err != nil {
		return nil, err
	}
	return r, nil
}

func findPermission(ctx context.Context, q querier, ref string) (*keygate.Permission, error) {
	where, key := byRef(ref, "name")
	p, err := scanPermission(q.QueryRowContext(ctx, `SELECT `+permissionCols+` FROM permissions WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "permission %q not found", ref)
	}
	return p, nil
}

func findRole(ctx context.Context, q querier, ref string) (*keygate.Role, error) {
	where, key := byRef(ref, "name")
	r, err := scanRole(q.QueryRowContext(ctx, `SELECT `+roleCols+` FROM roles WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "role %q not found", ref)
	}
	return r, nil
}

// sameName refuses a new name for the row id of table: others refer to it by name.
func sameName(ctx context.Context, tx *Tx, table, id, name string) error {
	var stored string
	if err := tx.QueryRowContext(ctx, `SELECT name FROM `+table+` WHERE id = ?`, id).Scan(&stored); err != nil {
		return fmt.Errorf("store: %s name: %w", table, err)
	}
	if stored != name {
		return keygate.Errorf(keygate.EINVALID, "name: cannot be changed (keys and roles refer to it by name); create a new one")
	}
	return nil
}

func savePermission(ctx context.Context, tx *Tx, p *keygate.Permission, insert bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	query := `UPDATE permissions SET description = ?3, updated_at = ?5 WHERE id = ?1 AND created_at = ?4 AND name = ?2`
	if insert {
		query = `INSERT INTO permissions (` + permissionCols + `) VALUES (?1, ?2, ?3, ?4, ?5)`
	} else if err := sameName(ctx, tx, "permissions", p.ID, p.Name); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, query, p.ID, p.Name, p.Description, micros(p.CreatedAt), micros(p.UpdatedAt))
	if code, col := constraint(err); code == Unique && col == "name" {
		return keygate.Errorf(keygate.ECONFLICT, "name: a permission named %q already exists", p.Name)
	}
	if err != nil {
		return fmt.Errorf("store: save permission: %w", err)
	}
	return nil
}

func saveRole(ctx context.Context, tx *Tx, r *keygate.Role, insert bool) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := checkGrants(ctx, tx, r.Permissions, nil); err != nil {
		return err
	}
	query := `UPDATE roles SET description = ?3, permissions = ?4, updated_at = ?6 WHERE id = ?1 AND created_at = ?5 AND name = ?2`
	if insert {
		query = `INSERT INTO roles (` + roleCols + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`
	} else if err := sameName(ctx, tx, "roles", r.ID, r.Name); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, query, r.ID, r.Name, r.Description, encodeList(r.Permissions), micros(r.CreatedAt), micros(r.UpdatedAt))
	if code, col := constraint(err); code == Unique && col == "name" {
		return keygate.Errorf(keygate.ECONFLICT, "name: a role named %q already exists", r.Name)
	}
	if err != nil {
		return fmt.Errorf("store: save role: %w", err)
	}
	return nil
}

// checkGrants reports the first of perms and roles that does not exist,
// ENOTFOUND naming it.
func checkGrants(ctx context.Context, tx *Tx, perms, roles []string) error {
	for _, g := range []struct {
		field, table, what string
		names              []string
	}{{"permissions", "permissions", "permission", perms}, {"roles", "roles", "role", roles}} {
		for i, name := range g.names {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+g.table+` WHERE name = ?`, name).Scan(&one)
			if err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return keygate.Errorf(keygate.ENOTFOUND, "%s[%d]: no %s %q", g.field, i, g.what, name)
				}
				return fmt.Errorf("store: check %s: %w", g.field, err)
			}
		}
	}
	return nil
}

// holders counts the rows of table whose JSON list column col holds name.
func holders(ctx context.Context, tx *Tx, table, col, name string) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+col+` FROM `+table+` WHERE `+col+` LIKE ?`, `%"`+name+`"%`)
	if err != nil {
		return 0, fmt.Errorf("store: holders of %q: %w", name, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var list []string
		if err := rows.Scan(listCol(&list)); err != nil {
			return 0, fmt.Errorf("store: holders of %q: %w", name, err)
		}
		if slices.Contains(list, name) { // LIKE's _ matches any character
			n++
		}
	}
	return n, rows.Err()
}

func (db *DB) CreatePermission(ctx context.Context, p *keygate.Permission) error {
	return permissionEntity.create(ctx, db, p)
}

func (db *DB) FindPermission(ctx context.Context, ref string) (*keygate.Permission, error) {
	return findPermission(ctx, db.r, ref)
}

func (db *DB) ListPermissions(ctx context.Context, p keygate.Page) ([]*keygate.Permission, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+permissionCols+` FROM permissions WHERE id > ? ORDER BY id LIMIT ?`,
		scanPermission, func(p *keygate.Permission) string { return p.ID })
}

func (db *DB) UpdatePermission(ctx context.Context, ref string, update func(*keygate.Permission) error) (*keygate.Permission, error) {
	return permissionEntity.update(ctx, db, ref, update)
}

func (db *DB) DeletePermission(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		p, err := findPermission(ctx, tx, ref)
		if err != nil {
			return nil, err
		}
		var uses []string
		for _, h := range [...]struct{ table, what string }{{"roles", "role"}, {"consumers", "consumer"}, {"api_keys", "key"}} {
			n, err := holders(ctx, tx, h.table, "permissions", p.Name)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				uses = append(uses, fmt.Sprintf("%d %s(s)", n, h.what))
			}
		}
		if len(uses) > 0 {
			return nil, keygate.Errorf(keygate.ECONFLICT, "permission %q is held by %s: take it from them first", p.Name, strings.Join(uses, ", "))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM permissions WHERE id = ?`, p.ID); err != nil {
			return nil, fmt.Errorf("store: delete permission: %w", err)
		}
		return []keygate.Change{{Kind: keygate.PermissionChanged, Op: keygate.Deleted, ID: p.ID}}, nil
	})
}

func (db *DB) CreateRole(ctx context.Context, r *keygate.Role) error {
	return roleEntity.create(ctx, db, r)
}

func (db *DB) FindRole(ctx context.Context, ref string) (*keygate.Role, error) {
	return findRole(ctx, db.r, ref)
}

func (db *DB) ListRoles(ctx context.Context, p keygate.Page) ([]*keygate.Role, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+roleCols+` FROM roles WHERE id > ? ORDER BY id LIMIT ?`,
		scanRole, func(r *keygate.Role) string { return r.ID })
}

func (db *DB) UpdateRole(ctx context.Context, ref string, update func(*keygate.Role) error) (*keygate.Role, error) {
	return roleEntity.update(ctx, db, ref, update)
}

func (db *DB) DeleteRole(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		r, err := findRole(ctx, tx, ref)
		if err != nil {
			return nil, err
		}
		var uses []string
		for _, h := range [...]struct{ table, what string }{{"consumers", "consumer"}, {"api_keys", "key"}} {
			n, err := holders(ctx, tx, h.table, "roles", r.Name)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				uses = append(uses, fmt.Sprintf("%d %s(s)", n, h.what))
			}
		}
		if len(uses) > 0 {
			return nil, keygate.Errorf(keygate.ECONFLICT, "role %q is held by %s: take it from them first", r.Name, strings.Join(uses, ", "))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE id = ?`, r.ID); err != nil {
			return nil, fmt.Errorf("store: delete role: %w", err)
		}
		return []keygate.Change{{Kind: keygate.RoleChanged, Op: keygate.Deleted, ID: r.ID}}, nil
	})
}

// rolePermissions sets RolePermissions of each key that (or whose
// consumer) holds roles, with one read of those roles for all of them.
// Keys without roles, the most, cost nothing.
func rolePermissions(ctx context.Context, q querier, kcs []keygate.KeyWithConsumer) error {
	var names []string
	for _, kc := range kcs {
		names = append(names, kc.Key.Roles...)
		if kc.Consumer != nil {
			names = append(names, kc.Consumer.Roles...)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := q.QueryContext(ctx, `SELECT name, permissions FROM roles WHERE name IN (?`+strings.Repeat(", ?", len(names)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("store: role permissions: %w", err)
	}
	defer rows.Close()
	byRole := make(map[string][]string, len(names))
	for rows.Next() {
		var name string
		var perms []string
		if err := rows.Scan(&name, listCol(&perms)); err != nil {
			return fmt.Errorf("store: role permissions: %w", err)
		}
		byRole[name] = perms
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: role permissions: %w", err)
	}
	for _, kc := range kcs {
		if len(kc.Key.Roles) > 0 || kc.Consumer != nil && len(kc.Consumer.Roles) > 0 {
			kc.Key.RolePermissions = byRole
		}
	}
	return nil
}
