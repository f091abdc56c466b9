package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// An OAuth client's secret is stored as a peppered hash, computed by the
// caller (the pepper never reaches the store); the previous one is kept
// after a rotation, with the end of its overlap.

const oauthClientCols = `id, client_id, consumer_id, name, scopes, token_lifetime, auth_methods, jwks, jwks_uri, status,
	secret_hash, previous_secret_hash, previous_secret_expires_at, secret_rotated_at, created_at, revoked_at`

// jwksColumn scans a nullable JSON column into a RawMessage, nil on NULL.
type jwksColumn struct{ dst *json.RawMessage }

func (c jwksColumn) Scan(src any) error {
	var s string
	if err := (nullStringColumn{&s}).Scan(src); err != nil {
		return err
	}
	*c.dst = nil
	if s != "" {
		*c.dst = json.RawMessage(s)
	}
	return nil
}

func scanOAuthClient(row scanner) (*keygate.OAuthClient, error) {
	c := &keygate.OAuthClient{}
	err := row.Scan(&c.ID, &c.ClientID, &c.Consumer.ID, &c.Name, listCol(&c.Scopes), &c.TokenLifetime, listCol(&c.AuthMethods),
		jwksColumn{&c.JWKS}, nullStringColumn{&c.JWKSURL}, &c.Status, &c.SecretHash, &c.PreviousSecretHash,
		nullTimeColumn{&c.PreviousSecretExpiresAt}, nullTimeColumn{&c.SecretRotatedAt}, timeColumn{&c.CreatedAt}, nullTimeColumn{&c.RevokedAt})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// oauthClientWhere finds a client by its id or its client_id.
func oauthClientWhere(ref string) (string, string) {
	if keygate.LooksLikeID(ref) {
		return "id = ?", strings.ToLower(ref)
	}
	return "client_id = ?", ref
}

func findOAuthClient(ctx context.Context, q querier, ref string) (*keygate.OAuthClient, error) {
	where, arg := oauthClientWhere(ref)
	c, err := scanOAuthClient(q.QueryRowContext(ctx, `SELECT `+oauthClientCols+` FROM oauth_clients WHERE `+where, arg))
	if err != nil {
		return nil, notFound(err, "oauth client not found")
	}
	return c, nil
}

func (db *DB) FindOAuthClient(ctx context.Context, ref string) (*keygate.OAuthClient, error) {
	return findOAuthClient(ctx, db.r, ref)
}

func (db *DB) ListOAuthClients(ctx context.Context, consumerID string, p keygate.Page) ([]*keygate.OAuthClient, string, error) {
	// Ids are UUIDv7, so id order is creation order.
	return listPage(ctx, db.r, p, `SELECT `+oauthClientCols+` FROM oauth_clients
		WHERE (?1 = '' OR consumer_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3`,
		scanOAuthClient, func(c *keygate.OAuthClient) string { return c.ID }, strings.ToLower(consumerID))
}

// CreateOAuthClient stores c as the caller validated it, with the
// ClientID and SecretHash it generated; Status, RevokedAt and the rotation
// fields are the store's.
func (db *DB) CreateOAuthClient(ctx context.Context, c *keygate.OAuthClient) error {
	switch {
	case c == nil:
		return keygate.Errorf(keygate.EINVALID, "oauth client: required")
	case !strings.HasPrefix(c.ClientID, keygate.OAuthClientIDPrefix):
		return keygate.Errorf(keygate.EINVALID, "client_id: must start with %s", keygate.OAuthClientIDPrefix)
	case len(c.SecretHash) == 0:
		return keygate.Errorf(keygate.EINVALID, "secret: required")
	case c.Name == "":
		return keygate.Errorf(keygate.EINVALID, "name: required")
	case c.TokenLifetime <= 0:
		return keygate.Errorf(keygate.EINVALID, "token_lifetime: required")
	case c.Consumer.IsZero():
		return keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer given")
	}
	v := *c // written back only once stored
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		consumer, err := findOwner(ctx, tx, c.Consumer.String())
		if err != nil {
			return nil, err
		}
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM oauth_clients WHERE consumer_id = ? AND name = ?)`,
			consumer.ID, c.Name).Scan(&taken); err != nil {
			return nil, fmt.Errorf("store: create oauth client: %w", err)
		}
		if taken {
			return nil, oauthClientNameTaken(c.Name)
		}
		id, err := newID()
		if err != nil {
			return nil, err
		}
		v.ID, v.Consumer, v.Status, v.CreatedAt = id, keygate.Ref{ID: consumer.ID}, keygate.KeyActive, db.stamp()
		v.RevokedAt, v.PreviousSecretHash, v.PreviousSecretExpiresAt, v.SecretRotatedAt = nil, nil, nil, nil
		v.Scopes, v.AuthMethods = orEmpty(c.Scopes), orEmpty(c.AuthMethods)
		var jwks any
		if len(v.JWKS) > 0 {
			jwks = string(v.JWKS)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth_clients (`+oauthClientCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.ClientID, v.Consumer.ID, v.Name, encodeList(v.Scopes), v.TokenLifetime, encodeList(v.AuthMethods),
			jwks, nullString(v.JWKSURL), string(v.Status), v.SecretHash, nil, nil, nil, micros(v.CreatedAt), nil)
		switch code, col := constraint(err); {
		case code == Unique && col == "name":
			return nil, oauthClientNameTaken(c.Name)
		case code == Unique:
			return nil, keygate.Errorf(keygate.ECONFLICT, "client_id: already taken")
		case err != nil:
			return nil, fmt.Errorf("store: create oauth client: %w", err)
		}
		return []keygate.Change{{Kind: keygate.OAuthClientChanged, Op: keygate.Created, ID: id}}, nil
	})
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func oauthClientNameTaken(name string) error {
	return keygate.Errorf(keygate.ECONFLICT, "name: the consumer already has an oauth client named %q", name)
}

// RotateOAuthClientSecret keeps the current hash as the previous one until
// previousUntil; an overlap already ended (previousUntil not after now)
// keeps none.
func (db *DB) RotateOAuthClientSecret(ctx context.Context, ref string, hash []byte, previousUntil time.Time) (*keygate.OAuthClient, error) {
	if len(hash) == 0 {
		return nil, keygate.Errorf(keygate.EINVALID, "secret: required")
	}
	var c *keygate.OAuthClient
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if c, err = findOAuthClient(ctx, tx, ref); err != nil {
			return nil, err
		}
		if c.Status != keygate.KeyActive {
			return nil, keygate.Errorf(keygate.ECONFLICT, "oauth client is %s: its secret cannot be rotated", c.Status)
		}
		now := db.stamp()
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, normalize(&previousUntil)
		if !previousUntil.After(now) {
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = nil, nil
		}
		c.SecretHash, c.SecretRotatedAt = hash, &now
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_clients SET secret_hash = ?, previous_secret_hash = ?,
			previous_secret_expires_at = ?, secret_rotated_at = ? WHERE id = ?`,
			c.SecretHash, c.PreviousSecretHash, nullMicros(c.PreviousSecretExpiresAt), micros(now), c.ID); err != nil {
			return nil, fmt.Errorf("store: rotate oauth client secret: %w", err)
		}
		return []keygate.Change{{Kind: keygate.OAuthClientChanged, Op: keygate.Updated, Action: "secret_rotated", ID: c.ID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RevokeOAuthClient revokes an active client; revoking it again keeps the
// first revoked_at but still reports the change, so every cache drops it.
func (db *DB) RevokeOAuthClient(ctx context.Context, ref string) (*keygate.OAuthClient, error) {
	var c *keygate.OAuthClient
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if c, err = findOAuthClient(ctx, tx, ref); err != nil {
			return nil, err
		}
		if err := db.markRevoked(ctx, tx, "oauth_clients", c.ID, &c.Status, &c.RevokedAt); err != nil {
			return nil, err
		}
		return []keygate.Change{{Kind: keygate.OAuthClientChanged, Op: keygate.Updated, Action: "revoked", ID: c.ID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (db *DB) DeleteOAuthClient(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		where, arg := oauthClientWhere(ref)
		var id string
		if err := tx.QueryRowContext(ctx, `DELETE FROM oauth_clients WHERE `+where+` RETURNING id`, arg).Scan(&id); err != nil {
			return nil, notFound(err, "oauth client not found")
		}
		return []keygate.Change{{Kind: keygate.OAuthClientChanged, Op: keygate.Deleted, ID: id}}, nil
	})
}
