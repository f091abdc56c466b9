package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate"
)

const consumerCols = `id, username, custom_id, groups, tags, created_at, updated_at, rotation_policy, public_key, plan_id, permissions, roles, enabled, meta`

// consumerDest is where a row of consumerCols scans to, for queries that
// read a consumer along with other columns.
func consumerDest(c *keygate.Consumer) []any {
	return appendConsumerDest(make([]any, 0, consumerColumns), c)
}

// consumerColumns is the number of consumerCols.
const consumerColumns = 14

func appendConsumerDest(dst []any, c *keygate.Consumer) []any {
	created, updated := timestamps(&c.Timestamps)
	return append(dst, &c.ID, nullStringColumn{&c.Username}, nullStringColumn{&c.CustomID}, listCol(&c.Groups), listCol(&c.Tags),
		created, updated, jsonColumn[keygate.RotationPolicy]{&c.RotationPolicy}, nullStringColumn{&c.PublicKey},
		refColumn{&c.Plan}, listCol(&c.Permissions), listCol(&c.Roles), boolPtrColumn{&c.Enabled}, metaColumn{&c.Meta})
}

func scanConsumer(row scanner) (*keygate.Consumer, error) {
	c := &keygate.Consumer{}
	if err := row.Scan(consumerDest(c)...); err != nil {
		return nil, err
	}
	return c, nil
}

// findConsumer looks a consumer up by id when ref looks like one, else by username.
func findConsumer(ctx context.Context, q querier, ref string) (*keygate.Consumer, error) {
	where, key := byRef(ref, "username")
	c, err := scanConsumer(q.QueryRowContext(ctx, `SELECT `+consumerCols+` FROM consumers WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "consumer %q not found", ref)
	}
	return c, nil
}

func (db *DB) FindConsumer(ctx context.Context, ref string) (*keygate.Consumer, error) {
	return findConsumer(ctx, db.r, ref)
}

func (db *DB) ListConsumers(ctx context.Context, p keygate.Page) ([]*keygate.Consumer, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+consumerCols+` FROM consumers WHERE id > ? ORDER BY id LIMIT ?`,
		scanConsumer, func(c *keygate.Consumer) string { return c.ID })
}

func (db *DB) CreateConsumer(ctx context.Context, c *keygate.Consumer) error {
	return consumers.create(ctx, db, c)
}

func (db *DB) UpdateConsumer(ctx context.Context, ref string, update func(*keygate.Consumer) error) (*keygate.Consumer, error) {
	return consumers.update(ctx, db, ref, update)
}

func saveConsumer(ctx context.Context, tx *Tx, c *keygate.Consumer, insert bool) error {
	// The lifecycle jobs compute due times from the policy in SQL: one that
	// is out of bounds (every 0: due at once, again and again) must never
	// be stored, whoever calls.
	if c.RotationPolicy != nil {
		if err := c.RotationPolicy.Validate(); err != nil {
			return err
		}
	}
	policy, err := encodeJSON(c.RotationPolicy)
	if err != nil {
		return err
	}
	// A new Ref: c may share the caller's, which a failed save must not change.
	if c.Plan, err = resolvePlan(ctx, tx, c.Plan); err != nil {
		return err
	}
	if err := keygate.ValidateGrants("permissions", c.Permissions); err != nil {
		return err
	}
	if err := keygate.ValidateGrants("roles", c.Roles); err != nil {
		return err
	}
	if err := checkGrants(ctx, tx, c.Permissions, c.Roles); err != nil {
		return err
	}
	if c.Meta, err = keygate.ValidateMeta("meta", c.Meta); err != nil {
		return err
	}
	query := `UPDATE consumers SET username = ?2, custom_id = ?3, groups = ?4, tags = ?5, updated_at = ?7,
		rotation_policy = ?8, public_key = ?9, plan_id = ?10, permissions = ?11, roles = ?12, enabled = ?13, meta = ?14 WHERE id = ?1 AND created_at = ?6`
	if insert {
		query = `INSERT INTO consumers (` + consumerCols + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`
	}
	_, err = tx.ExecContext(ctx, query, c.ID, nullString(c.Username), nullString(c.CustomID),
		encodeList(c.Groups), encodeList(c.Tags), micros(c.CreatedAt), micros(c.UpdatedAt), policy, nullString(c.PublicKey),
		nullRef(c.Plan), encodeList(c.Permissions), encodeList(c.Roles), enabledArg(c.Enabled), metaArg(c.Meta))
	if code, col := constraint(err); code == Unique {
		switch col {
		case "username":
			return keygate.Errorf(keygate.ECONFLICT, "username: a consumer with username %q already exists", c.Username)
		case "custom_id":
			return keygate.Errorf(keygate.ECONFLICT, "custom_id: a consumer with custom_id %q already exists", c.CustomID)
		}
	}
	if err != nil {
		return fmt.Errorf("store: save consumer: %w", err)
	}
	return nil
}

// DeleteConsumer deletes the consumer and, by cascade, its keys, HMAC
// credentials and webhooks (whose data keys triggers delete: crypto-shredding). Every
// deleted credential is reported, so that caches indexed by key identifier
// or HMAC username drop it.
func (db *DB) DeleteConsumer(ctx context.Context, ref string) error {
	shredded := false
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		shredded = false // a transaction run again decides again
		c, err := findConsumer(ctx, tx, ref)
		if err != nil {
			return nil, err
		}
		changes := []keygate.Change{{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: c.ID}}
		keys, err := deletedCredentials(ctx, tx, `SELECT id, identifier FROM api_keys WHERE consumer_id = ? ORDER BY id`, c.ID,
			func(id, identifier string) keygate.Change {
				return keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: id, KeyIdentifier: identifier}
			})
		if err != nil {
			return nil, err
		}
		creds, err := deletedCredentials(ctx, tx, `SELECT id, username FROM hmac_credentials WHERE consumer_id = ? ORDER BY id`, c.ID,
			func(id, username string) keygate.Change {
				return keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: id, Username: username}
			})
		if err != nil {
			return nil, err
		}
		clients, err := deletedCredentials(ctx, tx, `SELECT id, client_id FROM oauth_clients WHERE consumer_id = ? ORDER BY id`, c.ID,
			func(id, _ string) keygate.Change {
				return keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Deleted, ID: id}
			})
		if err != nil {
			return nil, err
		}
		sessions, err := deletedCredentials(ctx, tx, `SELECT id, route_id FROM payload_sessions WHERE consumer_id = ? ORDER BY id`, c.ID,
			func(id, _ string) keygate.Change {
				return keygate.Change{Kind: keygate.PayloadSessionChanged, Op: keygate.Deleted, ID: id}
			})
		if err != nil {
			return nil, err
		}
		// The consumer's webhooks go by cascade too, their secrets' data keys by trigger.
		var webhooks int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM webhooks WHERE consumer_id = ?`, c.ID).Scan(&webhooks); err != nil {
			return nil, fmt.Errorf("store: delete consumer: %w", err)
		}
		// So do its access requests, with the sealed keys not picked up yet.
		pickups, err := waitingPickups(ctx, tx, "consumer_id", c.ID)
		if err != nil {
			return nil, err
		}
		// And the new keys of its automatic rotations kept for pickup.
		rotationPickupsBefore, err := rotationPickups(ctx, tx)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM consumers WHERE id = ?`, c.ID); err != nil {
			return nil, fmt.Errorf("store: delete consumer: %w", err)
		}
		rotationPickupsAfter, err := rotationPickups(ctx, tx)
		if err != nil {
			return nil, err
		}
		shredded = len(creds) > 0 || len(sessions) > 0 || webhooks > 0 || pickups || rotationPickupsAfter < rotationPickupsBefore
		return append(append(append(append(changes, keys...), creds...), clients...), sessions...), nil
	})
	if err != nil {
		return err
	}
	if shredded {
		db.shred(ctx)
	}
	return nil
}

// deletedCredentials reads the (id, lookup name) pairs query returns for the
// consumer and turns each into the Deleted change of that credential.
func deletedCredentials(ctx context.Context, tx *Tx, query, consumerID string, change func(id, name string) keygate.Change) ([]keygate.Change, error) {
	rows, err := tx.QueryContext(ctx, query, consumerID)
	if err != nil {
		return nil, fmt.Errorf("store: list consumer credentials: %w", err)
	}
	defer rows.Close()
	var changes []keygate.Change
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("store: list consumer credentials: %w", err)
		}
		changes = append(changes, change(id, name))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list consumer credentials: %w", err)
	}
	return changes, nil
}

// findOwner finds the consumer that something being created belongs to (a
// credential, a request, a webhook): one that does not exist is named as
// the body's consumer field, not as a missing resource at the URL.
func findOwner(ctx context.Context, q querier, ref string) (*keygate.Consumer, error) {
	c, err := findConsumer(ctx, q, ref)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer %q", ref)
	}
	return c, err
}
