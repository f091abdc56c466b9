package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/keygate/keygate"
)

// An HMAC credential's secret is sealed: the row holds the ciphertext, and
// its data key is in data_keys under (keygate.SealedHMACSecret, the
// credential's id), where the keyring's rewrap finds it with every other
// data key. A trigger deletes that data key with the row (see
// 0004_hmac.sql), whether the credential or its consumer is deleted.

const hmacCols = `h.id, h.consumer_id, h.username, h.status, h.tags, h.expires_at, h.created_at, h.revoked_at, h.weak`

// lookupHMACSQL reads a credential with its sealed secret and its consumer:
// one round trip on the gateway's cache miss. A credential without a data
// key (an archived one) could never be verified, so it is not found.
var lookupHMACSQL = `SELECT ` + hmacCols + `, h.secret, d.version, d.wrapped, ` + prefixed("c.", consumerCols) + `
	FROM hmac_credentials h
	JOIN consumers c ON c.id = h.consumer_id
	JOIN data_keys d ON d.kind = '` + keygate.SealedHMACSecret + `' AND d.id = h.id
	WHERE h.username = ?`

func hmacDest(c *keygate.HMACCredential) []any {
	return []any{&c.ID, &c.Consumer.ID, &c.Username, &c.Status, listCol(&c.Tags),
		nullTimeColumn{&c.ExpiresAt}, timeColumn{&c.CreatedAt}, nullTimeColumn{&c.RevokedAt}, &c.Weak}
}

func scanHMACCredential(row scanner) (*keygate.HMACCredential, error) {
	c := &keygate.HMACCredential{}
	if err := row.Scan(hmacDest(c)...); err != nil {
		return nil, err
	}
	return c, nil
}

func findHMACCredential(ctx context.Context, q querier, id string) (*keygate.HMACCredential, error) {
	c, err := scanHMACCredential(q.QueryRowContext(ctx, `SELECT `+hmacCols+` FROM hmac_credentials h WHERE h.id = ?`, strings.ToLower(id)))
	if err != nil {
		return nil, notFound(err, "hmac credential not found")
	}
	return c, nil
}

func (db *DB) FindHMACCredential(ctx context.Context, id string) (*keygate.HMACCredential, error) {
	return findHMACCredential(ctx, db.r, id)
}

func (db *DB) LookupHMACCredential(ctx context.Context, username string) (*keygate.HMACCredential, *keygate.Consumer, error) {
	h, c := &keygate.HMACCredential{}, &keygate.Consumer{}
	s := &keygate.Sealed{Kind: keygate.SealedHMACSecret}
	dest := append(append(hmacDest(h), &s.Ciphertext, &s.Version, &s.Wrapped), consumerDest(c)...)
	var row *Row
	if db.lookupHMAC != nil {
		row = db.lookupHMAC.QueryRowContext(ctx, username)
	} else { // a store opened at an older schema, to restore into
		row = db.r.QueryRowContext(ctx, lookupHMACSQL, username)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, nil, notFound(err, "hmac credential not found")
	}
	s.ID = h.ID
	h.Secret = s
	return h, c, nil
}

func (db *DB) ListHMACCredentials(ctx context.Context, f keygate.HMACCredentialFilter, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
	// Ids are UUIDv7, so id order is creation order.
	// weak: 0 any, 1 only weak, 2 only the others; a number, which both
	// engines compare without a type for the parameter.
	weak := 0
	if f.Weak != nil {
		weak = 2
		if *f.Weak {
			weak = 1
		}
	}
	return listPage(ctx, db.r, p, `SELECT `+hmacCols+` FROM hmac_credentials h
		WHERE (?1 = '' OR h.consumer_id = ?1) AND (?2 = 0 OR h.weak = (?2 = 1)) AND h.id > ?3 ORDER BY h.id LIMIT ?4`,
		scanHMACCredential, func(c *keygate.HMACCredential) string { return c.ID }, strings.ToLower(f.ConsumerID), weak)
}

// CreateHMACCredential stores c with the secret seal returns. seal runs
// inside the write transaction, once the id is known and the consumer and
// the username have been checked, so that nothing is sealed for a
// credential that cannot be stored, and nothing is stored when sealing
// fails. c.Status, c.RevokedAt and c.Secret are the store's: the credential
// is created active, and its secret is read only by LookupHMACCredential.
// c.ExpiresAt is kept as given: the caller checked it (see keygate.Expiry).
func (db *DB) CreateHMACCredential(ctx context.Context, c *keygate.HMACCredential, seal func(id string) (*keygate.Sealed, error)) error {
	switch {
	case c == nil:
		return keygate.Errorf(keygate.EINVALID, "hmac credential: required")
	case seal == nil:
		return keygate.Errorf(keygate.EINVALID, "secret: required")
	case c.Username == "":
		return keygate.Errorf(keygate.EINVALID, "username: required")
	case c.Consumer.IsZero():
		return keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer given")
	}
	v := *c // written back only once stored
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		consumer, err := findOwner(ctx, tx, c.Consumer.String())
		if err != nil {
			return nil, err
		}
		// The transaction holds the write lock: no one can take the username
		// before the insert. Checked first, so as not to seal in vain.
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM hmac_credentials WHERE username = ?)`,
			c.Username).Scan(&taken); err != nil {
			return nil, fmt.Errorf("store: create hmac credential: %w", err)
		}
		if taken {
			return nil, usernameTaken(c.Username)
		}
		id, err := newID()
		if err != nil {
			return nil, err
		}
		sealed, err := sealDataKey(ctx, tx, keygate.SealedHMACSecret, id, seal)
		if err != nil {
			return nil, err
		}
		now := db.stamp()
		v.ID, v.Consumer, v.Status, v.CreatedAt, v.RevokedAt, v.Secret = id, keygate.Ref{ID: consumer.ID}, keygate.KeyActive, now, nil, nil
		v.Tags, v.ExpiresAt = orEmpty(c.Tags), normalize(c.ExpiresAt)
		_, err = tx.ExecContext(ctx, `INSERT INTO hmac_credentials (`+returningHMACCols+`, secret)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.Consumer.ID, v.Username, string(v.Status), encodeList(v.Tags), nullMicros(v.ExpiresAt), micros(v.CreatedAt), nil, v.Weak, sealed.Ciphertext)
		switch code, col := constraint(err); {
		case code == Unique && col == "username":
			return nil, usernameTaken(c.Username)
		case err != nil:
			return nil, fmt.Errorf("store: create hmac credential: %w", err)
		}
		return []keygate.Change{{Kind: keygate.HMACCredentialChanged, Op: keygate.Created, ID: id, Username: v.Username}}, nil
	})
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func usernameTaken(username string) error {
	return keygate.Errorf(keygate.ECONFLICT, "username: an hmac credential with username %q already exists", username)
}

// RevokeHMACCredential revokes an active credential: revoking it again
// keeps the first revoked_at, and an archived one stays archived (its
// archived_at, which starts its retention period, unchanged), but the
// change is still reported, so that a repeated revoke always makes every
// cache drop the credential.
func (db *DB) RevokeHMACCredential(ctx context.Context, id string) (*keygate.HMACCredential, error) {
	var c *keygate.HMACCredential
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if c, err = findHMACCredential(ctx, tx, id); err != nil {
			return nil, err
		}
		if err := db.markRevoked(ctx, tx, "hmac_credentials", c.ID, &c.Status, &c.RevokedAt); err != nil {
			return nil, err
		}
		return []keygate.Change{{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, Action: "revoked", ID: c.ID, Username: c.Username}}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteHMACCredential deletes the credential and, by trigger, its data
// key, then empties the log so that neither stays in the files (see shred).
func (db *DB) DeleteHMACCredential(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var username string
		err := tx.QueryRowContext(ctx, `DELETE FROM hmac_credentials WHERE id = ? RETURNING username`, strings.ToLower(id)).Scan(&username)
		if err != nil {
			return nil, notFound(err, "hmac credential not found")
		}
		return []keygate.Change{{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: strings.ToLower(id), Username: username}}, nil
	})
	if err != nil {
		return err
	}
	db.shred(ctx)
	return nil
}

// orEmpty returns list, or an empty list for nil.
func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
