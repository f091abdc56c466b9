package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keygate/keygate"
)

func (db *DB) CreateAdminToken(ctx context.Context, t *keygate.AdminToken) error {
	var id string
	var now time.Time
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		var err error
		if id, err = newID(); err != nil {
			return nil, err
		}
		now = db.stamp()
		_, err = tx.ExecContext(ctx, `INSERT INTO admin_tokens (id, name, token_hash, role, created_at) VALUES (?, ?, ?, ?, ?)`,
			id, t.Name, t.Hash, t.Role, micros(now))
		if code, col := constraint(err); code == constraintUnique && col == "token_hash" {
			return nil, keygate.Errorf(keygate.ECONFLICT, "hash: an admin token with this hash already exists")
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: create admin token: %w", err)
		}
		return []keygate.Change{{Kind: keygate.AdminTokenChanged, ID: id}}, nil
	})
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt = id, now
	return nil
}

func (db *DB) FindAdminToken(ctx context.Context, hash []byte) (*keygate.AdminToken, error) {
	t := &keygate.AdminToken{}
	err := db.r.QueryRowContext(ctx, `SELECT id, name, token_hash, role, created_at FROM admin_tokens WHERE token_hash = ?`, hash).
		Scan(&t.ID, &t.Name, &t.Hash, &t.Role, timeColumn{&t.CreatedAt})
	if err != nil {
		return nil, notFound(err, "admin token not found")
	}
	return t, nil
}

func (db *DB) CountAdminTokens(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM admin_tokens`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count admin tokens: %w", err)
	}
	return n, nil
}
