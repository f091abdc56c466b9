package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate"
)

// PutSecret stores the data key and the ciphertext of s together, replacing
// both when s.Kind/s.ID exists.
func (db *DB) PutSecret(ctx context.Context, s *keygate.Sealed) error {
	if s == nil {
		return keygate.Errorf(keygate.EINVALID, "secret: required")
	}
	if err := validRecord(s.Kind, s.ID); err != nil {
		return err
	}
	switch {
	case s.Version < 1:
		return keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
	case len(s.Wrapped) == 0:
		return keygate.Errorf(keygate.EINVALID, "wrapped: required")
	case len(s.Ciphertext) == 0:
		return keygate.Errorf(keygate.EINVALID, "ciphertext: required")
	}
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if err := requireVersion(ctx, tx, s.Version); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO data_keys (kind, id, version, wrapped) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, wrapped = excluded.wrapped`,
			s.Kind, s.ID, s.Version, s.Wrapped); err != nil {
			return nil, fmt.Errorf("store: put secret: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (kind, id, ciphertext) VALUES (?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET ciphertext = excluded.ciphertext`,
			s.Kind, s.ID, s.Ciphertext); err != nil {
			return nil, fmt.Errorf("store: put secret: %w", err)
		}
		return nil, nil
	})
}

func (db *DB) GetSecret(ctx context.Context, kind, id string) (*keygate.Sealed, error) {
	if err := validRecord(kind, id); err != nil {
		return nil, err
	}
	s := &keygate.Sealed{Kind: kind, ID: id}
	err := db.r.QueryRowContext(ctx, `SELECT d.version, d.wrapped, s.ciphertext
		FROM secrets AS s JOIN data_keys AS d ON d.kind = s.kind AND d.id = s.id
		WHERE s.kind = ? AND s.id = ?`, kind, id).Scan(&s.Version, &s.Wrapped, &s.Ciphertext)
	if err != nil {
		return nil, notFound(err, "secret %s/%s not found", kind, id)
	}
	return s, nil
}

// DestroySecret deletes a secret's data key and ciphertext, then empties the
// log so that neither stays anywhere in the files (see shred). Only a stored
// secret is destroyed: a data key of a record that keeps its own ciphertext
// is not this method's to delete.
func (db *DB) DestroySecret(ctx context.Context, kind, id string) error {
	if err := validRecord(kind, id); err != nil {
		return err
	}
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE kind = ? AND id = ?`, kind, id)
		if err != nil {
			return nil, fmt.Errorf("store: destroy secret: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("store: destroy secret: %w", err)
		} else if n == 0 {
			return nil, keygate.Errorf(keygate.ENOTFOUND, "secret %s/%s not found", kind, id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM data_keys WHERE kind = ? AND id = ?`, kind, id); err != nil {
			return nil, fmt.Errorf("store: destroy secret: %w", err)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	db.shred(ctx)
	return nil
}
