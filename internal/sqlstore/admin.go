package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

const adminTokenCols = `id, name, token_hash, role, services, consumers, created_at`

func scanAdminToken(row scanner) (*keygate.AdminToken, error) {
	t := &keygate.AdminToken{}
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Role, listCol(&t.Services), listCol(&t.Consumers), timeColumn{&t.CreatedAt}); err != nil {
		return nil, err
	}
	if len(t.Services) == 0 {
		t.Services = nil // unrestricted, as created
	}
	if len(t.Consumers) == 0 {
		t.Consumers = nil
	}
	return t, nil
}

func (db *DB) CreateAdminToken(ctx context.Context, t *keygate.AdminToken) error {
	var stored *keygate.AdminToken
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		stored, err = insertAdminToken(ctx, db, tx, t)
		if err != nil {
			return nil, err
		}
		return []keygate.Change{{Kind: keygate.AdminTokenChanged, Op: keygate.Created, ID: stored.ID}}, nil
	})
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt = stored.ID, stored.CreatedAt
	return nil
}

// insertAdminToken stores a copy of t with a new id and creation time.
func insertAdminToken(ctx context.Context, db *DB, tx *Tx, t *keygate.AdminToken) (*keygate.AdminToken, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	v := *t
	v.ID, v.CreatedAt = id, db.stamp()
	_, err = tx.ExecContext(ctx, `INSERT INTO admin_tokens (`+adminTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.Name, v.Hash, v.Role, encodeList(v.Services), encodeList(v.Consumers), micros(v.CreatedAt))
	switch code, col := constraint(err); {
	case code == Unique && col == "token_hash":
		return nil, keygate.Errorf(keygate.ECONFLICT, "hash: an admin token with this hash already exists")
	case code == Unique && col == "name":
		return nil, keygate.Errorf(keygate.ECONFLICT, "name: an admin token named %q already exists", v.Name)
	case err != nil:
		return nil, fmt.Errorf("store: create admin token: %w", err)
	}
	return &v, nil
}

// PutAdminToken replaces the token named t.Name (and any token with t's
// hash) by t, in one transaction, so the replaced token never works again.
func (db *DB) PutAdminToken(ctx context.Context, t *keygate.AdminToken) error {
	if t.Name == "" {
		return keygate.Errorf(keygate.EINVALID, "name: required")
	}
	var stored *keygate.AdminToken
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		cur, err := scanAdminToken(tx.QueryRowContext(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE name = ?`, t.Name))
		switch {
		case err == nil && bytes.Equal(cur.Hash, t.Hash) && cur.Role == t.Role && slices.Equal(cur.Services, t.Services) && slices.Equal(cur.Consumers, t.Consumers):
			stored = cur // already in place: keep its id, so a restart changes nothing
			return nil, nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("store: find admin token: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM admin_tokens WHERE name = ? OR token_hash = ? RETURNING id`, t.Name, t.Hash)
		if err != nil {
			return nil, fmt.Errorf("store: replace admin token: %w", err)
		}
		var changes []keygate.Change
		for rows.Next() {
			c := keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Deleted}
			if err := rows.Scan(&c.ID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: replace admin token: %w", err)
			}
			changes = append(changes, c)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: replace admin token: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: replace admin token: %w", err)
		}
		if stored, err = insertAdminToken(ctx, db, tx, t); err != nil {
			return nil, err
		}
		return append(changes, keygate.Change{Kind: keygate.AdminTokenChanged, Op: keygate.Created, ID: stored.ID}), nil
	})
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt = stored.ID, stored.CreatedAt
	return nil
}

func (db *DB) FindAdminToken(ctx context.Context, hash []byte) (*keygate.AdminToken, error) {
	t, err := scanAdminToken(db.r.QueryRowContext(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE token_hash = ?`, hash))
	if err != nil {
		return nil, notFound(err, "admin token not found")
	}
	return t, nil
}

func (db *DB) ListAdminTokens(ctx context.Context, p keygate.Page) ([]*keygate.AdminToken, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE id > ? ORDER BY id LIMIT ?`,
		scanAdminToken, func(t *keygate.AdminToken) string { return t.ID })
}

func (db *DB) DeleteAdminToken(ctx context.Context, id string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var deleted string
		err := tx.QueryRowContext(ctx, `DELETE FROM admin_tokens WHERE id = ? RETURNING id`, strings.ToLower(id)).Scan(&deleted)
		if err != nil {
			return nil, notFound(err, "admin token not found")
		}
		return []keygate.Change{{Kind: keygate.AdminTokenChanged, Op: keygate.Deleted, ID: deleted}}, nil
	})
}

func (db *DB) CountAdminTokens(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM admin_tokens`).Scan(&n); err != nil {
		return 0, storeError(fmt.Errorf("store: count admin tokens: %w", err))
	}
	return n, nil
}
