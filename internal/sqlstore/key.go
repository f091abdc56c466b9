package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

const keyCols = `k.id, k.consumer_id, k.identifier, k.prefix, k.start, k.secret_hash, k.name, k.status,
	k.allowed_services, k.allowed_routes, k.allowed_cidrs, k.tags, k.expires_at, k.revoked_at, k.created_at, k.updated_at,
	k.rotated_from, k.successor_id, k.plan_id, k.lineage_id, k.imported, k.permissions, k.roles,
	k.enabled, k.meta, k.credits_remaining, k.credits_refill, k.credits_refilled_at`

// lookupKeySQL reads a key with its consumer: one round trip on the gateway's cache miss.
var lookupKeySQL = lookupKeysWhere(`k.identifier = ?`)

func lookupKeysWhere(cond string) string {
	return `SELECT ` + keyCols + `, ` + prefixed("c.", consumerCols) + `
	FROM api_keys k JOIN consumers c ON c.id = k.consumer_id WHERE ` + cond
}

func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = prefix + parts[i]
	}
	return strings.Join(parts, ", ")
}

func keyDest(k *keygate.APIKey) []any { return appendKeyDest(make([]any, 0, keyColumns), k) }

// keyColumns is the number of keyCols.
const keyColumns = 28

func appendKeyDest(dst []any, k *keygate.APIKey) []any {
	created, updated := timestamps(&k.Timestamps)
	return append(dst, &k.ID, &k.Consumer.ID, &k.Identifier, &k.Prefix, &k.Start, &k.SecretHash, &k.Name, &k.Status,
		listCol(&k.AllowedServices), listCol(&k.AllowedRoutes), listCol(&k.AllowedCIDRs), listCol(&k.Tags),
		nullTimeColumn{&k.ExpiresAt}, nullTimeColumn{&k.RevokedAt}, created, updated,
		nullStringColumn{&k.RotatedFrom}, nullStringColumn{&k.SuccessorID}, refColumn{&k.Plan}, &k.Lineage, &k.Imported, listCol(&k.Permissions), listCol(&k.Roles),
		boolPtrColumn{&k.Enabled}, metaColumn{&k.Meta}, creditsRemaining{&k.Credits}, creditsRefill{&k.Credits}, creditsRefilledAt{&k.Credits})
}

// lookupDest is where a row of the lookup's columns (a key's, then its
// consumer's) scans to, in dst's space when it has room: a batch of rows
// scans through one slice.
func lookupDest(dst []any, k *keygate.APIKey, c *keygate.Consumer) []any {
	if cap(dst) < keyColumns+consumerColumns {
		dst = make([]any, 0, keyColumns+consumerColumns)
	}
	return appendConsumerDest(appendKeyDest(dst[:0], k), c)
}

func scanKey(row scanner) (*keygate.APIKey, error) {
	k := &keygate.APIKey{}
	if err := row.Scan(keyDest(k)...); err != nil {
		return nil, err
	}
	return k, nil
}

func findKey(ctx context.Context, q querier, id string) (*keygate.APIKey, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.id = ?`, strings.ToLower(id)))
	if err != nil {
		return nil, notFound(err, "key not found")
	}
	return k, nil
}

func (db *DB) FindKey(ctx context.Context, id string) (*keygate.APIKey, error) {
	return findKey(ctx, db.r, id)
}

// LookupKeyQuery is LookupKey's query, with one placeholder (?) for the
// identifier: what Config.ReadKey reads.
func LookupKeyQuery() string { return lookupKeySQL }

func (db *DB) LookupKey(ctx context.Context, identifier string) (*keygate.APIKey, *keygate.Consumer, error) {
	k, c := &keygate.APIKey{}, &keygate.Consumer{}
	dest := lookupDest(nil, k, c)
	var err error
	if db.readKey != nil {
		err = db.readKey(ctx, identifier, dest)
	} else {
		err = db.lookup.QueryRowContext(ctx, identifier).Scan(dest...)
	}
	if err != nil {
		return nil, nil, notFound(err, "key not found")
	}
	if err := rolePermissions(ctx, db.r, []keygate.KeyWithConsumer{{Key: k, Consumer: c}}); err != nil {
		return nil, nil, storeError(err)
	}
	return k, c, nil
}

// maxLookupKeys bounds the identifiers of one LookupKeys read (and so its
// placeholders).
const maxLookupKeys = 256

// lookupKeysSizes are the IN lists prepared once (padded with a repeated
// identifier up to the next size): a gateway batches its cache misses
// (keyauth.Batch) into reads of up to 64 keys, and an IN list parsed anew
// for each read cost more on SQLite than the reads it saved. One array
// parameter (PostgreSQL's = ANY($1)) would be one statement for every
// size, but PostgreSQL then plans each read anew: its generic plan guesses
// ten elements, dearer than a small batch's own plan.
var lookupKeysSizes = [...]int{4, 16, 64}

func lookupKeysSQL(n int) string {
	return lookupKeysWhere(`k.identifier IN (?` + strings.Repeat(", ?", n-1) + `)`)
}

// LookupKeysQuery is LookupKeys' query for identifiers (at most 256), with ?
// placeholders, and its arguments: the one-key query for one identifier,
// else an IN list of the next of lookupKeysSizes, padded with the last
// identifier again (which matches no more rows), so that the engine
// prepares a few statements, not one per batch size. What an engine's
// Config.ReadKeys may run.
func LookupKeysQuery(identifiers []string) (query string, args []any) {
	size, i := lookupKeysSize(len(identifiers))
	switch {
	case size == 1:
		query = lookupKeySQL
	case i >= 0:
		query = lookupKeysSQLs[i]
	default:
		query = lookupKeysSQL(size)
	}
	return query, paddedArgs(identifiers, size)
}

var lookupKeysSQLs = func() (qs [len(lookupKeysSizes)]string) {
	for i, n := range lookupKeysSizes {
		qs[i] = lookupKeysSQL(n)
	}
	return qs
}()

// lookupKeysSize is the IN list's size for n identifiers, and its index in
// lookupKeysSizes (-1 when it is 1 or more than the largest).
func lookupKeysSize(n int) (size, i int) {
	if n > 1 {
		for i, size := range lookupKeysSizes {
			if n <= size {
				return size, i
			}
		}
	}
	return n, -1
}

func paddedArgs(identifiers []string, size int) []any {
	args := make([]any, size)
	for i := range args {
		args[i] = identifiers[min(i, len(identifiers)-1)]
	}
	return args
}

// LookupKeys reads the keys of several identifiers in one query; see keygate.KeyStore.
func (db *DB) LookupKeys(ctx context.Context, identifiers []string) ([]keygate.KeyWithConsumer, error) {
	if len(identifiers) > maxLookupKeys {
		return nil, keygate.Errorf(keygate.EINVALID, "identifiers: at most %d", maxLookupKeys)
	}
	if len(identifiers) == 0 {
		return nil, nil
	}
	if db.readKeys != nil {
		return db.readKeysByEngine(ctx, identifiers)
	}
	size, i := lookupKeysSize(len(identifiers))
	args := paddedArgs(identifiers, size)
	var rows *Rows
	var err error
	switch {
	case size == 1:
		rows, err = db.lookup.QueryContext(ctx, args...)
	case i >= 0:
		rows, err = db.lookupKeys[i].QueryContext(ctx, args...)
	default:
		rows, err = db.r.QueryContext(ctx, lookupKeysSQL(size), args...)
	}
	if err != nil {
		return nil, storeError(fmt.Errorf("store: lookup keys: %w", err))
	}
	defer rows.Close()
	found := lookupRows{out: make([]keygate.KeyWithConsumer, 0, len(identifiers))}
	if err := found.scan(rows); err != nil {
		return nil, storeError(fmt.Errorf("store: lookup keys: %w", err))
	}
	return db.withRolePermissions(ctx, found.out)
}

// readKeysByEngine is LookupKeys through Config.ReadKeys: the engine's own
// read of the identifiers, in the index's order and each identifier once.
func (db *DB) readKeysByEngine(ctx context.Context, identifiers []string) ([]keygate.KeyWithConsumer, error) {
	identifiers = slices.Compact(slices.Sorted(slices.Values(identifiers)))
	found := lookupRows{out: make([]keygate.KeyWithConsumer, 0, len(identifiers))}
	if err := db.readKeys(ctx, identifiers, found.next); err != nil {
		return nil, storeError(fmt.Errorf("store: lookup keys: %w", err))
	}
	return db.withRolePermissions(ctx, found.out)
}

// lookupRows collects rows of the lookup's columns, each a key with its
// consumer, all scanned through one slice of targets (a new one per row was
// a kilobyte and a half of garbage per key on a gateway's miss).
type lookupRows struct {
	out  []keygate.KeyWithConsumer
	dest []any
}

// next is where the next row scans to: a new key and consumer in out.
func (l *lookupRows) next() []any {
	k, c := &keygate.APIKey{}, &keygate.Consumer{}
	l.out = append(l.out, keygate.KeyWithConsumer{Key: k, Consumer: c})
	l.dest = lookupDest(l.dest, k, c)
	return l.dest
}

func (l *lookupRows) scan(rows *Rows) error {
	for rows.Next() {
		if err := rows.Scan(l.next()...); err != nil {
			return err
		}
	}
	return rows.Err()
}

// withRolePermissions fills in the permissions of the roles the keys and
// their consumers hold.
func (db *DB) withRolePermissions(ctx context.Context, kcs []keygate.KeyWithConsumer) ([]keygate.KeyWithConsumer, error) {
	if err := rolePermissions(ctx, db.r, kcs); err != nil {
		return nil, storeError(err)
	}
	return kcs, nil
}

// recentlyUsedKeysSQL walks the keys in id order and keeps those with a
// usage row since ?2, found through the index on (credential_id, minute):
// one probe per key, however much usage there is, and no sort. A scalar
// subquery, not EXISTS: PostgreSQL turns EXISTS into a hash semi-join that
// reads all of the window's usage for every batch (400 ms a batch with 20k
// keys, quadratic in all), where this stays a probe per key.
var recentlyUsedKeysSQL = `SELECT ` + keyCols + `, ` + prefixed("c.", consumerCols) + `
	FROM api_keys k JOIN consumers c ON c.id = k.consumer_id
	WHERE k.id > ?1 AND (SELECT 1 FROM usage u WHERE u.credential_id = k.id AND u.minute >= ?2 LIMIT 1) IS NOT NULL
	ORDER BY k.id LIMIT ?3`

// RecentlyUsedKeys reads one batch of the keys used since since; see keygate.KeyStore.
func (db *DB) RecentlyUsedKeys(ctx context.Context, since time.Time, after string, limit int) ([]keygate.KeyWithConsumer, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	rows, err := db.r.QueryContext(ctx, recentlyUsedKeysSQL, strings.ToLower(after), since.UTC().Truncate(time.Minute).Unix(), limit)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: recently used keys: %w", err))
	}
	defer rows.Close()
	var found lookupRows
	if err := found.scan(rows); err != nil {
		return nil, storeError(fmt.Errorf("store: recently used keys: %w", err))
	}
	return db.withRolePermissions(ctx, found.out)
}

func (db *DB) ListKeys(ctx context.Context, f keygate.KeyFilter, p keygate.Page) ([]*keygate.APIKey, string, error) {
	// imported: 0 any, 1 only imported, 2 only the others; a number, as
	// ListHMACCredentials' weak, which both engines compare alike.
	imported := 0
	if f.Imported != nil {
		imported = 2
		if *f.Imported {
			imported = 1
		}
	}
	return listPage(ctx, db.r, p, `SELECT `+keyCols+` FROM api_keys k
		WHERE (?1 = '' OR k.consumer_id = ?1) AND (?2 = 0 OR k.imported = (?2 = 1)) AND k.id > ?3 ORDER BY k.id LIMIT ?4`,
		scanKey, func(k *keygate.APIKey) string { return k.ID }, f.ConsumerID, imported)
}

// ListKeyIdentifiers reads the unique index on identifier only.
func (db *DB) ListKeyIdentifiers(ctx context.Context, after string, limit int) ([]string, error) {
	limit = min(max(limit, 1), keygate.MaxIdentifierPage)
	rows, err := db.r.QueryContext(ctx, `SELECT identifier FROM api_keys WHERE identifier > ? ORDER BY identifier LIMIT ?`, after, limit)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: list key identifiers: %w", err))
	}
	defer rows.Close()
	ids := make([]string, 0, min(limit, 1024))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, storeError(fmt.Errorf("store: list key identifiers: %w", err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: list key identifiers: %w", err))
	}
	return ids, nil
}

// CreateKey stores k; an empty status is stored as active.
func (db *DB) CreateKey(ctx context.Context, k *keygate.APIKey) error {
	var v *keygate.APIKey // written back only once stored
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if v, err = db.insertKey(ctx, tx, k); err != nil {
			return nil, err
		}
		c := keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, ID: v.ID, KeyIdentifier: v.Identifier}
		if v.Imported {
			c.Action = "imported" // what the audit trail records
		}
		return []keygate.Change{c}, nil
	})
	if err != nil {
		return err
	}
	*k = *v
	return nil
}

// insertKey stores a copy of k with a new id, lineage and timestamps.
func (db *DB) insertKey(ctx context.Context, tx *Tx, k *keygate.APIKey) (*keygate.APIKey, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	v := *k
	now := db.stamp()
	v.ID, v.CreatedAt, v.UpdatedAt = id, now, now
	v.Consumer = keygate.Ref{ID: strings.ToLower(k.Consumer.ID)}
	if v.Lineage, err = lineage(ctx, tx, &v); err != nil {
		return nil, err
	}
	v.ExpiresAt, v.RevokedAt = normalize(k.ExpiresAt), normalize(k.RevokedAt)
	if v.Status == "" {
		v.Status = keygate.KeyActive
	}
	v.Normalize()
	// Resolved before the insert, so that the foreign key that can fail is
	// the consumer's. A new Ref: k's is the caller's.
	if v.Plan, err = resolvePlan(ctx, tx, k.Plan); err != nil {
		return nil, err
	}
	if err := checkGrants(ctx, tx, v.Permissions, v.Roles); err != nil {
		return nil, err
	}
	if v.Meta, err = keygate.ValidateMeta("meta", k.Meta); err != nil {
		return nil, err
	}
	if v.Credits, err = newCredits(k.Credits, now); err != nil {
		return nil, err
	}
	remaining, refill, refilledAt, err := creditsArgs(v.Credits)
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO api_keys (`+strings.ReplaceAll(keyCols, "k.", "")+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.Consumer.ID, v.Identifier, v.Prefix, v.Start, v.SecretHash, v.Name, string(v.Status),
		encodeList(v.AllowedServices), encodeList(v.AllowedRoutes), encodeList(v.AllowedCIDRs), encodeList(v.Tags),
		nullMicros(v.ExpiresAt), nullMicros(v.RevokedAt), micros(v.CreatedAt), micros(v.UpdatedAt),
		nullString(v.RotatedFrom), nullString(v.SuccessorID), nullRef(v.Plan), v.Lineage, v.Imported,
		encodeList(v.Permissions), encodeList(v.Roles), enabledArg(v.Enabled), metaArg(v.Meta), remaining, refill, refilledAt)
	switch code, col := constraint(err); {
	case code == ForeignKey:
		return nil, keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer %q", k.Consumer.ID)
	case code == Unique && col == "identifier":
		return nil, keygate.Errorf(keygate.ECONFLICT, "identifier: a key with this identifier already exists")
	case err != nil:
		return nil, fmt.Errorf("store: create key: %w", err)
	}
	return &v, nil
}

// lineage returns the lineage of key k about to be inserted (its id set):
// its own id, or, for a successor, its predecessor's lineage. The
// predecessor must be the same consumer's, so that no key can be made to
// share another consumer's limits.
func lineage(ctx context.Context, tx *Tx, k *keygate.APIKey) (string, error) {
	if k.RotatedFrom == "" {
		return k.ID, nil
	}
	var lineage, consumer string
	err := tx.QueryRowContext(ctx, `SELECT lineage_id, consumer_id FROM api_keys WHERE id = ?`,
		strings.ToLower(k.RotatedFrom)).Scan(&lineage, &consumer)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", keygate.Errorf(keygate.ENOTFOUND, "rotated_from: no key %q", k.RotatedFrom)
	case err != nil:
		return "", fmt.Errorf("store: key lineage: %w", err)
	case consumer != k.Consumer.ID:
		return "", keygate.Errorf(keygate.EINVALID, "rotated_from: key %q is another consumer's", k.RotatedFrom)
	}
	return lineage, nil
}

// UpdateKey lets update change a key's name, tags and plan; see
// keygate.KeyStore. update works on a copy, compared with the stored key
// afterwards, so that a change to any other field is refused rather than
// silently lost.
func (db *DB) UpdateKey(ctx context.Context, id string, update func(*keygate.APIKey) error) (*keygate.APIKey, error) {
	if update == nil {
		return nil, keygate.Errorf(keygate.EINVALID, "update: required")
	}
	var v *keygate.APIKey
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		stored, err := findKey(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		v = cloneKey(stored)
		if err := update(v); err != nil {
			return nil, err
		}
		if field := keygate.KeyFixedField(stored, v); field != "" {
			return nil, keygate.Errorf(keygate.EINVALID, "%s: cannot be changed; a key's name, tags, plan, permissions, roles, enabled, meta and credits can", field)
		}
		v.Normalize()
		if err := v.ValidateRestrictions(); err != nil {
			return nil, err
		}
		// A new Ref: v's may be the caller's.
		if v.Plan, err = resolvePlan(ctx, tx, v.Plan); err != nil {
			return nil, err
		}
		if err := checkGrants(ctx, tx, v.Permissions, v.Roles); err != nil {
			return nil, err
		}
		v.UpdatedAt = db.stamp()
		if v.Meta, err = keygate.ValidateMeta("meta", v.Meta); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET name = ?, tags = ?, plan_id = ?, updated_at = ?, permissions = ?, roles = ?, enabled = ?, meta = ? WHERE id = ?`,
			v.Name, encodeList(v.Tags), nullRef(v.Plan), micros(v.UpdatedAt), encodeList(v.Permissions), encodeList(v.Roles), enabledArg(v.Enabled), metaArg(v.Meta), v.ID); err != nil {
			return nil, fmt.Errorf("store: update key: %w", err)
		}
		// Credits are written only when the update sets them, so that uses
		// spent meanwhile are not written over.
		if !sameCredits(stored.Credits, v.Credits) {
			if v.Credits, err = newCredits(v.Credits, v.UpdatedAt); err != nil {
				return nil, err
			}
			remaining, refill, refilledAt, err := creditsArgs(v.Credits)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET credits_remaining = ?, credits_refill = ?, credits_refilled_at = ? WHERE id = ?`,
				remaining, refill, refilledAt, v.ID); err != nil {
				return nil, fmt.Errorf("store: update key: %w", err)
			}
		}
		tx.summarize(v.ID, snapshot(stored), snapshot(v))
		return []keygate.Change{{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: v.ID, KeyIdentifier: v.Identifier,
			Action: enabledAction(keygate.IsEnabled(stored.Enabled), keygate.IsEnabled(v.Enabled))}}, nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// cloneKey copies k deeply: lists, times, hash and plan.
func cloneKey(k *keygate.APIKey) *keygate.APIKey {
	c := *k
	c.SecretHash = slices.Clone(k.SecretHash)
	c.AllowedServices, c.AllowedRoutes = slices.Clone(k.AllowedServices), slices.Clone(k.AllowedRoutes)
	c.AllowedCIDRs, c.Tags = slices.Clone(k.AllowedCIDRs), slices.Clone(k.Tags)
	c.Permissions, c.Roles = slices.Clone(k.Permissions), slices.Clone(k.Roles)
	c.ExpiresAt, c.RevokedAt = normalize(k.ExpiresAt), normalize(k.RevokedAt)
	c.Meta = slices.Clone(k.Meta)
	if k.Enabled != nil {
		e := *k.Enabled
		c.Enabled = &e
	}
	if k.Credits != nil {
		cr := *k.Credits
		if k.Credits.Refill != nil {
			r := *k.Credits.Refill
			cr.Refill = &r
		}
		c.Credits = &cr
	}
	if k.Plan != nil {
		p := *k.Plan
		c.Plan = &p
	}
	return &c
}

// RotateKey stores successor and shortens the old key's life to graceEnd,
// in one transaction; see keygate.KeyStore.
func (db *DB) RotateKey(ctx context.Context, id string, successor *keygate.APIKey, graceEnd time.Time) (*keygate.APIKey, error) {
	return db.rotateKey(ctx, id, successor, graceEnd, nil)
}

// RotateKeyForPickup is RotateKey that keeps the successor's full key,
// sealed, for one pickup by the old key's holder; see keygate.KeyStore.
func (db *DB) RotateKeyForPickup(ctx context.Context, id string, successor *keygate.APIKey, graceEnd time.Time, seal func(id string) (*keygate.Sealed, error)) (*keygate.APIKey, error) {
	if seal == nil {
		return nil, keygate.Errorf(keygate.EINVALID, "seal: required")
	}
	return db.rotateKey(ctx, id, successor, graceEnd, seal)
}

// rotateKey rotates key id and, with seal, keeps the successor for pickup.
// seal runs once the checks say the rotation applies, so that a rotation
// that loses to another node's seals nothing. A transaction that fails
// after it (a serialization failure on PostgreSQL, at a later statement or
// the commit) and runs again has sealed in vain: seal must have no side
// effects.
func (db *DB) rotateKey(ctx context.Context, id string, successor *keygate.APIKey, graceEnd time.Time, seal func(id string) (*keygate.Sealed, error)) (*keygate.APIKey, error) {
	var old, next *keygate.APIKey
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if old, err = findKey(ctx, tx, id); err != nil {
			return nil, err
		}
		now := db.stamp()
		switch {
		case old.Status != keygate.KeyActive:
			return nil, keygate.Errorf(keygate.ECONFLICT, "key: a %s key cannot be rotated", old.Status)
		case old.Expired(now):
			return nil, keygate.Errorf(keygate.ECONFLICT, "key: an expired key cannot be rotated")
		case old.SuccessorID != "":
			return nil, keygate.Errorf(keygate.ECONFLICT, "key: already rotated to %s, which is the key to rotate now", old.SuccessorID)
		}
		s := *successor
		s.RotatedFrom, s.SuccessorID = old.ID, ""
		if next, err = db.insertKey(ctx, tx, &s); err != nil {
			return nil, err
		}
		end := graceEnd.UTC().Truncate(time.Microsecond)
		if old.ExpiresAt != nil && old.ExpiresAt.Before(end) {
			end = *old.ExpiresAt
		}
		old.ExpiresAt, old.SuccessorID, old.UpdatedAt = &end, next.ID, now
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires_at = ?, successor_id = ?, updated_at = ? WHERE id = ?`,
			micros(end), next.ID, micros(now), old.ID); err != nil {
			return nil, fmt.Errorf("store: rotate key: %w", err)
		}
		if seal != nil {
			sealed, err := sealDataKey(ctx, tx, keygate.SealedRotationPickup, old.ID, seal)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO rotation_pickups (key_id, successor_id, ciphertext, created_at)
				VALUES (?, ?, ?, ?)`, old.ID, next.ID, sealed.Ciphertext, micros(now)); err != nil {
				return nil, fmt.Errorf("store: rotate key: %w", err)
			}
		}
		return []keygate.Change{
			{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "rotated", ID: old.ID, KeyIdentifier: old.Identifier},
			{Kind: keygate.KeyChanged, Op: keygate.Created, ID: next.ID, KeyIdentifier: next.Identifier},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	*successor = *next
	return old, nil
}

// PickUpRotatedKey opens the kept successor inside the write transaction
// and destroys it in the same one, then empties the log (see shred), so
// that the key can be had once and is then gone from the files.
func (db *DB) PickUpRotatedKey(ctx context.Context, id string, open func(*keygate.Sealed) error) (*keygate.APIKey, *keygate.APIKey, error) {
	if open == nil {
		return nil, nil, keygate.Errorf(keygate.EINVALID, "open: required")
	}
	var old, next *keygate.APIKey
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		s := &keygate.Sealed{Kind: keygate.SealedRotationPickup, ID: strings.ToLower(id)}
		var successorID string
		err := tx.QueryRowContext(ctx, `SELECT p.successor_id, d.version, d.wrapped, p.ciphertext FROM rotation_pickups p
			JOIN data_keys d ON d.kind = ? AND d.id = p.key_id WHERE p.key_id = ?`+db.d.ForUpdate,
			keygate.SealedRotationPickup, s.ID).Scan(&successorID, &s.Version, &s.Wrapped, &s.Ciphertext)
		if err != nil {
			return nil, notFound(err, "key: no rotated key waits for pickup")
		}
		if old, err = findKey(ctx, tx, s.ID); err != nil {
			return nil, err
		}
		if old.Status != keygate.KeyActive || old.Expired(db.stamp()) {
			return nil, keygate.Errorf(keygate.ENOTFOUND, "key: no rotated key waits for pickup")
		}
		if next, err = findKey(ctx, tx, successorID); err != nil {
			return nil, err
		}
		if err := open(s); err != nil {
			return nil, err
		}
		// The trigger deletes the data key with the row (see 0011_rotation_policy.sql).
		if _, err := tx.ExecContext(ctx, `DELETE FROM rotation_pickups WHERE key_id = ?`, s.ID); err != nil {
			return nil, fmt.Errorf("store: pick up rotated key: %w", err)
		}
		return nil, db.record(ctx, tx, "key", "picked_up", next.ID)
	})
	if err != nil {
		return nil, nil, err
	}
	db.shred(ctx)
	return old, next, nil
}

// rotationPickups counts the successors kept for pickup. A write that may
// drop some by trigger (revoking, archiving or deleting keys) compares the
// count before and after, and empties the log when it fell (see shred).
func rotationPickups(ctx context.Context, tx *Tx) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rotation_pickups`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: rotation pickups: %w", err)
	}
	return n, nil
}

// RevokeKey revokes a key once: revoking it again keeps the first
// revoked_at, but still reports the change, so that a repeated revoke
// always makes every cache drop the key.
func (db *DB) RevokeKey(ctx context.Context, id string) (*keygate.APIKey, error) {
	var k *keygate.APIKey
	shredded := false
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		shredded = false // a transaction run again decides again
		var err error
		if k, err = findKey(ctx, tx, id); err != nil {
			return nil, err
		}
		if k.Status != keygate.KeyRevoked {
			before, err := rotationPickups(ctx, tx)
			if err != nil {
				return nil, err
			}
			now := db.stamp()
			k.Status, k.RevokedAt, k.UpdatedAt = keygate.KeyRevoked, &now, now
			// A successor kept for pickup by or as this key goes by trigger.
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET status = ?, revoked_at = ?, updated_at = ? WHERE id = ?`,
				string(k.Status), micros(now), micros(now), k.ID); err != nil {
				return nil, fmt.Errorf("store: revoke key: %w", err)
			}
			after, err := rotationPickups(ctx, tx)
			if err != nil {
				return nil, err
			}
			shredded = after < before
		}
		return []keygate.Change{{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "revoked", ID: k.ID, KeyIdentifier: k.Identifier}}, nil
	})
	if err != nil {
		return nil, err
	}
	if shredded {
		db.shred(ctx)
	}
	return k, nil
}

func (db *DB) DeleteKey(ctx context.Context, id string) error {
	shredded := false
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		// A key not picked up yet takes its sealed copy with it (by
		// trigger), as does a key with a successor kept for pickup, or one
		// kept for pickup itself (by cascade).
		var err error
		if shredded, err = waitingPickups(ctx, tx, "key_id", strings.ToLower(id)); err != nil {
			return nil, err
		}
		before, err := rotationPickups(ctx, tx)
		if err != nil {
			return nil, err
		}
		var identifier string
		err = tx.QueryRowContext(ctx, `DELETE FROM api_keys WHERE id = ? RETURNING identifier`, strings.ToLower(id)).Scan(&identifier)
		if err != nil {
			return nil, notFound(err, "key not found")
		}
		after, err := rotationPickups(ctx, tx)
		if err != nil {
			return nil, err
		}
		shredded = shredded || after < before
		return []keygate.Change{{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: strings.ToLower(id), KeyIdentifier: identifier}}, nil
	})
	if err != nil {
		return err
	}
	if shredded {
		db.shred(ctx)
	}
	return nil
}
