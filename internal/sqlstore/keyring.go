package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/keygate/keygate"
)

// The keyring and data keys are not cached anywhere the Change stream feeds
// (each node holds its own opened keyring), so their writes emit no changes.

func (db *DB) KeyringVersions(ctx context.Context) ([]*keygate.KeyringVersion, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT version, sealed, created_at FROM keyring ORDER BY version`)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: keyring versions: %w", err))
	}
	defer rows.Close()
	vs := []*keygate.KeyringVersion{}
	for rows.Next() {
		v := &keygate.KeyringVersion{}
		if err := rows.Scan(&v.Version, &v.Sealed, timeColumn{&v.CreatedAt}); err != nil {
			return nil, storeError(fmt.Errorf("store: keyring versions: %w", err))
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: keyring versions: %w", err))
	}
	return vs, nil
}

func (db *DB) AddKeyringVersion(ctx context.Context, v *keygate.KeyringVersion) error {
	if err := validKeyringVersion(v); err != nil {
		return err
	}
	var created time.Time
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		created = db.stamp()
		newest, err := newestVersion(ctx, tx)
		if err != nil {
			return nil, err
		}
		if v.Version != newest+1 {
			return nil, keygate.Errorf(keygate.ECONFLICT,
				"version: keyring version %d cannot follow version %d; another node may have rotated the keyring", v.Version, newest)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO keyring (version, sealed, created_at) VALUES (?, ?, ?)`,
			v.Version, v.Sealed, micros(created)); err != nil {
			return nil, fmt.Errorf("store: add keyring version: %w", err)
		}
		return nil, db.record(ctx, tx, "keyring", "rotated", strconv.Itoa(v.Version))
	})
	if err != nil {
		return err
	}
	v.CreatedAt = created
	return nil
}

func (db *DB) ResealKeyring(ctx context.Context, versions []*keygate.KeyringVersion) error {
	given := make(map[int][]byte, len(versions))
	for _, v := range versions {
		if err := validKeyringVersion(v); err != nil {
			return err
		}
		if _, dup := given[v.Version]; dup {
			return keygate.Errorf(keygate.EINVALID, "version: keyring version %d is given twice", v.Version)
		}
		given[v.Version] = v.Sealed
	}
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		stored, err := storedVersions(ctx, tx)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(stored, slices.Sorted(maps.Keys(given))) {
			return nil, keygate.Errorf(keygate.ECONFLICT,
				"versions: the keyring holds versions %v, not %v; it changed since it was read", stored, slices.Sorted(maps.Keys(given)))
		}
		stmt, err := tx.PrepareContext(ctx, `UPDATE keyring SET sealed = ? WHERE version = ?`)
		if err != nil {
			return nil, fmt.Errorf("store: reseal keyring: %w", err)
		}
		defer stmt.Close()
		for _, version := range stored {
			if _, err := stmt.ExecContext(ctx, given[version], version); err != nil {
				return nil, fmt.Errorf("store: reseal keyring: %w", err)
			}
		}
		return nil, db.record(ctx, tx, "keyring", "resealed", "root")
	})
	if err != nil {
		return err
	}
	// A root key is rotated because it may be known: the versions it sealed
	// must not stay readable in the log.
	db.shred(ctx)
	return nil
}

func (db *DB) DeleteKeyringVersion(ctx context.Context, version int) error {
	if version < 1 {
		return keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
	}
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var exists bool
		var uses int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM keyring WHERE version = ?),
			(SELECT count(*) FROM data_keys WHERE version = ?)`, version, version).Scan(&exists, &uses); err != nil {
			return nil, fmt.Errorf("store: delete keyring version: %w", err)
		}
		if !exists {
			return nil, keygate.Errorf(keygate.ENOTFOUND, "keyring version %d not found", version)
		}
		newest, err := newestVersion(ctx, tx)
		if err != nil {
			return nil, err
		}
		switch {
		case version == newest:
			return nil, keygate.Errorf(keygate.ECONFLICT, "version: keyring version %d is the newest; it wraps every new data key", version)
		case uses > 0:
			return nil, keygate.Errorf(keygate.ECONFLICT, "version: keyring version %d still wraps %d data keys; rewrap them first", version, uses)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM keyring WHERE version = ?`, version); err != nil {
			return nil, fmt.Errorf("store: delete keyring version: %w", err)
		}
		return nil, db.record(ctx, tx, "keyring", "retired", strconv.Itoa(version))
	})
	if err != nil {
		return err
	}
	db.shred(ctx)
	return nil
}

func (db *DB) DataKeyCounts(ctx context.Context) (map[int]int, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT version, count(*) FROM data_keys GROUP BY version`)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: data key counts: %w", err))
	}
	defer rows.Close()
	counts := map[int]int{}
	for rows.Next() {
		var version, n int
		if err := rows.Scan(&version, &n); err != nil {
			return nil, storeError(fmt.Errorf("store: data key counts: %w", err))
		}
		counts[version] = n
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: data key counts: %w", err))
	}
	return counts, nil
}

func (db *DB) SealedBefore(ctx context.Context, version, limit int) ([]*keygate.Sealed, error) {
	switch {
	case version < 1:
		return nil, keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
	case limit < 1:
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	rows, err := db.r.QueryContext(ctx, `SELECT kind, id, version, wrapped FROM data_keys
		WHERE version < ? ORDER BY kind, id LIMIT ?`, version, limit)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: sealed before: %w", err))
	}
	defer rows.Close()
	out := []*keygate.Sealed{}
	for rows.Next() {
		s := &keygate.Sealed{}
		if err := rows.Scan(&s.Kind, &s.ID, &s.Version, &s.Wrapped); err != nil {
			return nil, storeError(fmt.Errorf("store: sealed before: %w", err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: sealed before: %w", err))
	}
	return out, nil
}

func (db *DB) RewrapDataKeys(ctx context.Context, rewraps []keygate.Rewrap) (int, error) {
	targets := map[int]bool{}
	for _, r := range rewraps {
		if err := validRecord(r.Kind, r.ID); err != nil {
			return 0, err
		}
		switch {
		case r.FromVersion < 1:
			return 0, keygate.Errorf(keygate.EINVALID, "from_version: must be at least 1")
		case r.To.Version < 1:
			return 0, keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
		case r.To.Version == r.FromVersion:
			// Two such rewraps would both apply: nothing tells them apart.
			return 0, keygate.Errorf(keygate.EINVALID, "version: a rewrap must move to another keyring version than %d", r.FromVersion)
		case len(r.To.Wrapped) == 0:
			return 0, keygate.Errorf(keygate.EINVALID, "wrapped: required")
		}
		targets[r.To.Version] = true
	}
	if len(rewraps) == 0 {
		return 0, nil
	}
	var applied int
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		applied = 0 // a transaction run again counts again
		for _, version := range slices.Sorted(maps.Keys(targets)) {
			if err := requireVersion(ctx, tx, version); err != nil {
				return nil, err
			}
		}
		stmt, err := tx.PrepareContext(ctx, `UPDATE data_keys SET version = ?, wrapped = ?
			WHERE kind = ? AND id = ? AND version = ? AND wrapped = coalesce(?, wrapped)`)
		if err != nil {
			return nil, fmt.Errorf("store: rewrap data keys: %w", err)
		}
		defer stmt.Close()
		for _, r := range rewraps {
			var from any // NULL: any wrapping
			if len(r.FromWrapped) > 0 {
				from = r.FromWrapped
			}
			res, err := stmt.ExecContext(ctx, r.To.Version, r.To.Wrapped, r.Kind, r.ID, r.FromVersion, from)
			if err != nil {
				return nil, fmt.Errorf("store: rewrap data keys: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return nil, fmt.Errorf("store: rewrap data keys: %w", err)
			}
			applied += int(n)
		}
		return nil, nil
	})
	if err != nil {
		return 0, err
	}
	return applied, nil
}

func validKeyringVersion(v *keygate.KeyringVersion) error {
	switch {
	case v == nil:
		return keygate.Errorf(keygate.EINVALID, "version: required")
	case v.Version < 1:
		return keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
	case len(v.Sealed) == 0:
		return keygate.Errorf(keygate.EINVALID, "sealed: required")
	}
	return nil
}

func validRecord(kind, id string) error {
	switch {
	case kind == "":
		return keygate.Errorf(keygate.EINVALID, "kind: required")
	case id == "":
		return keygate.Errorf(keygate.EINVALID, "id: required")
	}
	return nil
}

// newestVersion returns the newest keyring version, 0 when there is none.
func newestVersion(ctx context.Context, tx *Tx) (int, error) {
	var newest int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM keyring`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("store: newest keyring version: %w", err)
	}
	return newest, nil
}

func storedVersions(ctx context.Context, tx *Tx) ([]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM keyring ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("store: keyring versions: %w", err)
	}
	defer rows.Close()
	vs := []int{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: keyring versions: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: keyring versions: %w", err)
	}
	return vs, nil
}

// requireVersion refuses a data key wrapped by a keyring version the store
// does not hold: it could never be unwrapped. The foreign key would refuse it
// too, but only with a constraint error, and not for a rewrap that no longer
// applies.
func requireVersion(ctx context.Context, tx *Tx, version int) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM keyring WHERE version = ?)`, version).Scan(&exists); err != nil {
		return fmt.Errorf("store: keyring version: %w", err)
	}
	if !exists {
		return keygate.Errorf(keygate.ECONFLICT, "version: keyring version %d does not exist; the keyring changed since it was read", version)
	}
	return nil
}

// sealDataKey is how a record with a sealed field gets its secret: it calls
// the caller's seal with the record's id, inside the transaction that stores
// the record, checks what came back and stores the data key with the other
// data keys. The caller stores the returned ciphertext with the record.
//
// A secret sealed for another record would never open for this one (the
// record is bound into the sealing): that is a bug in the caller, an
// internal error, not a bad request. A seal error that says what it is (a
// KMS that is down: EUNAVAILABLE) keeps its code.
func sealDataKey(ctx context.Context, tx *Tx, kind, id string, seal func(id string) (*keygate.Sealed, error)) (*keygate.Sealed, error) {
	s, err := seal(id)
	if err != nil {
		if _, ok := errors.AsType[*keygate.Error](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("store: seal %s %s: %w", kind, id, err)
	}
	switch {
	case s == nil:
		return nil, fmt.Errorf("store: seal returned no secret for %s/%s", kind, id)
	case s.Kind != kind || s.ID != id:
		return nil, fmt.Errorf("store: seal returned a secret sealed for %q/%q, want %q/%q", s.Kind, s.ID, kind, id)
	case s.Version < 1:
		return nil, keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
	case len(s.Wrapped) == 0:
		return nil, keygate.Errorf(keygate.EINVALID, "wrapped: required")
	case len(s.Ciphertext) == 0:
		return nil, keygate.Errorf(keygate.EINVALID, "ciphertext: required")
	}
	if err := requireVersion(ctx, tx, s.Version); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO data_keys (kind, id, version, wrapped) VALUES (?, ?, ?, ?)`,
		s.Kind, s.ID, s.Version, s.Wrapped); err != nil {
		return nil, fmt.Errorf("store: data key of %s %s: %w", kind, id, err)
	}
	return s, nil
}
