package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// A payload session's key is sealed: the row holds the ciphertext, its data
// key is in data_keys under (keygate.SealedPayloadSessionKey, the session's
// id), where the keyring's rewrap finds it, and a trigger deletes it with
// the row (see 0023_payload_sessions.sql): a logout destroys the key.

// payloadEncryption is a route's mode as stored: off when empty.
func payloadEncryption(mode string) string {
	if mode == "" {
		return keygate.PayloadEncryptionOff
	}
	return mode
}

// payloadEncryptionColumn reads a route's mode back, off as empty (the
// default, which a route's JSON leaves out).
type payloadEncryptionColumn struct{ dst *string }

func (c payloadEncryptionColumn) Scan(src any) error {
	var s string
	if err := (nullStringColumn{&s}).Scan(src); err != nil {
		return err
	}
	if s == keygate.PayloadEncryptionOff {
		s = ""
	}
	*c.dst = s
	return nil
}

const payloadSessionCols = `s.id, s.consumer_id, s.service_id, s.route_id, s.mode, s.key_type, s.expires_at, s.created_at`

func payloadSessionDest(s *keygate.PayloadSession) []any {
	return []any{&s.ID, &s.Consumer.ID, &s.ServiceID, &s.RouteID, &s.Mode, &s.KeyType, timeColumn{&s.ExpiresAt}, timeColumn{&s.CreatedAt}}
}

func scanPayloadSession(row scanner) (*keygate.PayloadSession, error) {
	s := &keygate.PayloadSession{}
	if err := row.Scan(payloadSessionDest(s)...); err != nil {
		return nil, err
	}
	return s, nil
}

// CreatePayloadSession stores s with the key seal returns; a static session
// (seal nil) has none.
func (db *DB) CreatePayloadSession(ctx context.Context, s *keygate.PayloadSession, seal func(id string) (*keygate.Sealed, error)) error {
	switch {
	case s == nil:
		return keygate.Errorf(keygate.EINVALID, "payload session: required")
	case s.Mode != keygate.PayloadEncryptionStatic && s.Mode != keygate.PayloadEncryptionDynamic:
		return keygate.Errorf(keygate.EINVALID, "mode: must be static or dynamic")
	case s.Mode == keygate.PayloadEncryptionDynamic && seal == nil:
		return keygate.Errorf(keygate.EINVALID, "key: a dynamic session needs one")
	case s.ServiceID == "" || s.RouteID == "":
		return keygate.Errorf(keygate.EINVALID, "route: required")
	case s.ExpiresAt.IsZero():
		return keygate.Errorf(keygate.EINVALID, "expires_at: required")
	case s.Consumer.IsZero():
		return keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer given")
	}
	v := *s // written back only once stored
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		consumer, err := findOwner(ctx, tx, s.Consumer.String())
		if err != nil {
			return nil, err
		}
		id, err := newID()
		if err != nil {
			return nil, err
		}
		var ciphertext []byte
		if seal != nil {
			sealed, err := sealDataKey(ctx, tx, keygate.SealedPayloadSessionKey, id, seal)
			if err != nil {
				return nil, err
			}
			ciphertext = sealed.Ciphertext
		}
		v.ID, v.Consumer, v.CreatedAt, v.Key = id, keygate.Ref{ID: consumer.ID}, db.stamp(), nil
		v.ExpiresAt = v.ExpiresAt.UTC().Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `INSERT INTO payload_sessions (id, consumer_id, service_id, route_id, mode, key_type, key, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.Consumer.ID, v.ServiceID, v.RouteID, v.Mode, v.KeyType, ciphertext, micros(v.ExpiresAt), micros(v.CreatedAt)); err != nil {
			return nil, fmt.Errorf("store: create payload session: %w", err)
		}
		return []keygate.Change{{Kind: keygate.PayloadSessionChanged, Op: keygate.Created, ID: id}}, nil
	})
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func (db *DB) FindPayloadSession(ctx context.Context, id string) (*keygate.PayloadSession, error) {
	if !keygate.LooksLikeID(id) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "payload session not found")
	}
	s := &keygate.PayloadSession{}
	var ciphertext []byte
	var version *int64
	var wrapped []byte
	dest := append(payloadSessionDest(s), &ciphertext, &version, &wrapped)
	err := db.r.QueryRowContext(ctx, `SELECT `+payloadSessionCols+`, s.key, d.version, d.wrapped
		FROM payload_sessions s
		LEFT JOIN data_keys d ON d.kind = '`+keygate.SealedPayloadSessionKey+`' AND d.id = s.id
		WHERE s.id = ?`, strings.ToLower(id)).Scan(dest...)
	if err != nil {
		return nil, notFound(err, "payload session not found")
	}
	if version != nil && len(ciphertext) > 0 {
		s.Key = &keygate.Sealed{Kind: keygate.SealedPayloadSessionKey, ID: s.ID,
			DataKey: keygate.DataKey{Version: int(*version), Wrapped: wrapped}, Ciphertext: ciphertext}
	}
	return s, nil
}

func (db *DB) ListPayloadSessions(ctx context.Context, consumerID string, p keygate.Page) ([]*keygate.PayloadSession, string, error) {
	// Ids are UUIDv7, so id order is creation order.
	return listPage(ctx, db.r, p, `SELECT `+payloadSessionCols+` FROM payload_sessions s
		WHERE (?1 = '' OR s.consumer_id = ?1) AND s.id > ?2 ORDER BY s.id LIMIT ?3`,
		scanPayloadSession, func(s *keygate.PayloadSession) string { return s.ID }, strings.ToLower(consumerID))
}

// DeletePayloadSession deletes the session and, by trigger, its key's data
// key, then empties the log so that neither stays in the files (see shred).
func (db *DB) DeletePayloadSession(ctx context.Context, id string) error {
	if !keygate.LooksLikeID(id) {
		return keygate.Errorf(keygate.ENOTFOUND, "payload session not found")
	}
	id = strings.ToLower(id)
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var got string
		if err := tx.QueryRowContext(ctx, `DELETE FROM payload_sessions WHERE id = ? RETURNING id`, id).Scan(&got); err != nil {
			return nil, notFound(err, "payload session not found")
		}
		return []keygate.Change{{Kind: keygate.PayloadSessionChanged, Op: keygate.Deleted, Action: "logged_out", ID: id}}, nil
	})
	if err != nil {
		return err
	}
	db.shred(ctx)
	return nil
}

func (db *DB) DeleteExpiredPayloadSessions(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit < 1 {
		return 0, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	var n int64
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM payload_sessions WHERE id IN
			(SELECT id FROM payload_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`, micros(before), limit)
		if err != nil {
			return nil, fmt.Errorf("store: delete expired payload sessions: %w", err)
		}
		n, err = res.RowsAffected()
		return nil, err
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		db.shred(ctx)
	}
	return n, nil
}
