package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/permquery"
)

const routeCols = `id, name, service_id, hosts, paths, methods, strip_path, preserve_host, key_auth, hmac_auth, acl, tags, created_at, updated_at, oauth2, payload_encryption, permissions`

func scanRoute(row scanner) (*keygate.Route, error) {
	r := &keygate.Route{}
	var perms *map[string]string
	created, updated := timestamps(&r.Timestamps)
	if err := row.Scan(&r.ID, &r.Name, &r.Service.ID, listCol(&r.Hosts), listCol(&r.Paths), listCol(&r.Methods),
		&r.StripPath, &r.PreserveHost, jsonColumn[keygate.KeyAuthConfig]{&r.KeyAuth}, jsonColumn[keygate.HMACAuthConfig]{&r.HMACAuth},
		jsonColumn[keygate.ACLConfig]{&r.ACL}, listCol(&r.Tags), created, updated,
		jsonColumn[keygate.OAuth2AuthConfig]{&r.OAuth2}, payloadEncryptionColumn{&r.PayloadEncryption}, jsonColumn[map[string]string]{&perms}); err != nil {
		return nil, err
	}
	if perms != nil && len(*perms) > 0 {
		r.Permissions = *perms
	}
	return r, nil
}

func findRoute(ctx context.Context, q querier, ref string) (*keygate.Route, error) {
	where, key := byRef(ref, "name")
	r, err := scanRoute(q.QueryRowContext(ctx, `SELECT `+routeCols+` FROM routes WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "route %q not found", ref)
	}
	return r, nil
}

func (db *DB) FindRoute(ctx context.Context, ref string) (*keygate.Route, error) {
	return findRoute(ctx, db.r, ref)
}

func (db *DB) ListRoutes(ctx context.Context, f keygate.RouteFilter, p keygate.Page) ([]*keygate.Route, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+routeCols+` FROM routes
		WHERE (?1 = '' OR service_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3`,
		scanRoute, func(r *keygate.Route) string { return r.ID }, f.ServiceID)
}

func (db *DB) CreateRoute(ctx context.Context, r *keygate.Route) error {
	return routes.create(ctx, db, r)
}

func (db *DB) UpdateRoute(ctx context.Context, ref string, update func(*keygate.Route) error) (*keygate.Route, error) {
	return routes.update(ctx, db, ref, update)
}

func saveRoute(ctx context.Context, tx *Tx, r *keygate.Route, insert bool) error {
	if r.Service.IsZero() {
		return keygate.Errorf(keygate.EINVALID, "service: required")
	}
	where, key := byRef(r.Service.String(), "name")
	var serviceID string
	err := tx.QueryRowContext(ctx, `SELECT id FROM services WHERE `+where, key).Scan(&serviceID)
	if errors.Is(err, sql.ErrNoRows) {
		return keygate.Errorf(keygate.ENOTFOUND, "service: no service %q", r.Service.String())
	} else if err != nil {
		return fmt.Errorf("store: resolve service: %w", err)
	}
	r.Service = keygate.Ref{ID: serviceID}

	keyAuth, err := encodeJSON(r.KeyAuth)
	if err != nil {
		return err
	}
	hmacAuth, err := encodeJSON(r.HMACAuth)
	if err != nil {
		return err
	}
	acl, err := encodeJSON(r.ACL)
	if err != nil {
		return err
	}
	oauth2, err := encodeJSON(r.OAuth2)
	if err != nil {
		return err
	}
	var perms any
	if len(r.Permissions) > 0 {
		for _, m := range slices.Sorted(maps.Keys(r.Permissions)) {
			if _, err := permquery.Compile(r.Permissions[m]); err != nil {
				var perr *permquery.Error
				if errors.As(err, &perr) {
					return keygate.Errorf(keygate.EINVALID, "permissions.%s: position %d: %s", m, perr.Pos, perr.Msg)
				}
				return keygate.Errorf(keygate.EINVALID, "permissions.%s: %v", m, err)
			}
		}
		if perms, err = encodeJSON(&r.Permissions); err != nil {
			return err
		}
	}
	query := `UPDATE routes SET name = ?2, service_id = ?3, hosts = ?4, paths = ?5, methods = ?6, strip_path = ?7,
		preserve_host = ?8, key_auth = ?9, hmac_auth = ?10, acl = ?11, tags = ?12, updated_at = ?14, oauth2 = ?15, payload_encryption = ?16,
		permissions = ?17 WHERE id = ?1 AND created_at = ?13`
	if insert {
		query = `INSERT INTO routes (` + routeCols + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)`
	}
	_, err = tx.ExecContext(ctx, query, r.ID, r.Name, serviceID, encodeList(r.Hosts), encodeList(r.Paths),
		encodeList(r.Methods), r.StripPath, r.PreserveHost, keyAuth, hmacAuth, acl, encodeList(r.Tags),
		micros(r.CreatedAt), micros(r.UpdatedAt), oauth2, payloadEncryption(r.PayloadEncryption), perms)
	if code, col := constraint(err); code == Unique && col == "name" {
		return keygate.Errorf(keygate.ECONFLICT, "name: a route named %q already exists", r.Name)
	}
	if err != nil {
		return fmt.Errorf("store: save route: %w", err)
	}
	return nil
}

func (db *DB) DeleteRoute(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		r, err := findRoute(ctx, tx, ref)
		if err != nil {
			return nil, err
		}
		// A plan's adjustment for the route would go with it unseen: the
		// plan must drop it first. Checked here for a message that says
		// why; the foreign key would refuse the delete anyway.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM plan_routes WHERE route_id = ?`, r.ID).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: count plans: %w", err)
		}
		if n > 0 {
			return nil, keygate.Errorf(keygate.ECONFLICT, "route %q is adjusted by %d plan(s): remove it from their routes first", ref, n)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM routes WHERE id = ?`, r.ID)
		if code, _ := constraint(err); code == ForeignKey {
			return nil, keygate.Errorf(keygate.ECONFLICT, "route %q is adjusted by a plan: remove it from the plan's routes first", ref)
		}
		if err != nil {
			return nil, fmt.Errorf("store: delete route: %w", err)
		}
		return []keygate.Change{{Kind: keygate.RouteChanged, Op: keygate.Deleted, ID: r.ID}}, nil
	})
}
