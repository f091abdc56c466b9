package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// An approved access request keeps the key it issued sealed: the row's
// pickup column holds the ciphertext and its data key is in data_keys under
// (keygate.SealedAccessPickup, the request's id), where the keyring's rewrap
// finds it. Picking the key up deletes both; triggers delete the data key
// with the request or the key (see 0007_access_requests.sql).
//
// Access requests and rules are in no cache, so their writes emit no
// changes; a key issued on approval is reported as created, like any other.

const accessRequestCols = `a.id, a.consumer_id, a.services, a.routes, a.plan, a.reason, a.status, a.requested_by,
	a.decided_by, a.decision_reason, a.key_id, a.pickup_token_hash, a.created_at, a.decided_at, a.picked_up_at, a.kind`

func scanAccessRequest(row scanner) (*keygate.AccessRequest, error) {
	r := &keygate.AccessRequest{}
	if err := row.Scan(&r.ID, &r.Consumer.ID, listCol(&r.Services), listCol(&r.Routes), &r.Plan, &r.Reason, &r.Status,
		&r.RequestedBy, &r.DecidedBy, &r.DecisionReason, nullStringColumn{&r.KeyID}, &r.PickupTokenHash,
		timeColumn{&r.CreatedAt}, nullTimeColumn{&r.DecidedAt}, nullTimeColumn{&r.PickedUpAt}, &r.Kind); err != nil {
		return nil, err
	}
	return r, nil
}

func findAccessRequest(ctx context.Context, q querier, id string) (*keygate.AccessRequest, error) {
	r, err := scanAccessRequest(q.QueryRowContext(ctx, `SELECT `+accessRequestCols+` FROM access_requests a WHERE a.id = ?`,
		strings.ToLower(id)))
	if err != nil {
		return nil, notFound(err, "access request %q not found", id)
	}
	return r, nil
}

func (db *DB) FindAccessRequest(ctx context.Context, id string) (*keygate.AccessRequest, error) {
	return findAccessRequest(ctx, db.r, id)
}

func (db *DB) ListAccessRequests(ctx context.Context, f keygate.AccessRequestFilter, p keygate.Page) ([]*keygate.AccessRequest, string, error) {
	// Ids are UUIDv7, so id order is creation order.
	return listPage(ctx, db.r, p, `SELECT `+accessRequestCols+` FROM access_requests a
		WHERE (?1 = '' OR a.status = ?1) AND (?2 = '' OR a.consumer_id = ?2) AND a.id > ?3 ORDER BY a.id LIMIT ?4`,
		scanAccessRequest, func(r *keygate.AccessRequest) string { return r.ID },
		string(f.Status), strings.ToLower(f.ConsumerID))
}

// CreateAccessRequest stores r as pending; the decision fields are the
// store's, whatever r holds.
func (db *DB) CreateAccessRequest(ctx context.Context, r *keygate.AccessRequest) error {
	if r == nil {
		return keygate.Errorf(keygate.EINVALID, "access request: required")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	v := *r // written back only once stored
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		consumer, err := findOwner(ctx, tx, r.Consumer.String())
		if err != nil {
			return nil, err
		}
		id, err := newID()
		if err != nil {
			return nil, err
		}
		v.ID, v.Consumer, v.Status, v.CreatedAt = id, keygate.Ref{ID: consumer.ID}, keygate.AccessPending, db.stamp()
		v.DecidedBy, v.DecisionReason, v.KeyID, v.DecidedAt, v.PickedUpAt = "", "", "", nil, nil
		v.Services, v.Routes = slices.Clone(r.Services), slices.Clone(r.Routes)
		v.PickupTokenHash = slices.Clone(r.PickupTokenHash)
		v.Normalize()
		var keyID any // a plan change's key; an issued key's is set on approval
		if v.Kind == keygate.AccessKindPlanChange && r.KeyID != "" {
			k, err := findKey(ctx, tx, r.KeyID)
			if keygate.ErrorCode(err) == keygate.ENOTFOUND || err == nil && k.Consumer.ID != consumer.ID {
				return nil, keygate.Errorf(keygate.ENOTFOUND, "key: consumer %q has no key %q", r.Consumer.String(), r.KeyID)
			} else if err != nil {
				return nil, err
			}
			v.KeyID, keyID = k.ID, k.ID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_requests (id, consumer_id, services, routes, plan, reason, status,
			requested_by, pickup_token_hash, created_at, kind, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.Consumer.ID, encodeList(v.Services), encodeList(v.Routes), v.Plan, v.Reason, string(v.Status),
			v.RequestedBy, v.PickupTokenHash, micros(v.CreatedAt), v.Kind, keyID); err != nil {
			return nil, fmt.Errorf("store: create access request: %w", err)
		}
		return nil, db.record(ctx, tx, "access_request", "created", v.ID)
	})
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// pendingAccessRequest reads request id for a decision: ENOTFOUND when
// absent, ECONFLICT when it is decided already. The write transaction holds
// the lock, so of two decisions the second always sees the first.
func pendingAccessRequest(ctx context.Context, tx *Tx, id string) (*keygate.AccessRequest, error) {
	r, err := findAccessRequest(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != keygate.AccessPending {
		return nil, keygate.Errorf(keygate.ECONFLICT, "access request: already decided (%s)", r.Status)
	}
	return r, nil
}

// ApproveAccessRequest issues key for request id and keeps it sealed for one
// pickup; see keygate.AccessRequestStore. seal runs inside the transaction,
// once the request is known to be pending, so that nothing is sealed for a
// decision that loses, and nothing stored when sealing fails.
func (db *DB) ApproveAccessRequest(ctx context.Context, id string, d keygate.AccessDecision, key *keygate.APIKey, seal func(id string) (*keygate.Sealed, error)) (*keygate.AccessRequest, error) {
	switch {
	case key == nil:
		return nil, keygate.Errorf(keygate.EINVALID, "key: required")
	case seal == nil:
		return nil, keygate.Errorf(keygate.EINVALID, "seal: required")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var r *keygate.AccessRequest
	var issued *keygate.APIKey
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if r, err = pendingAccessRequest(ctx, tx, id); err != nil {
			return nil, err
		}
		if r.Kind != keygate.AccessKindKey {
			return nil, keygate.Errorf(keygate.EINVALID, "access request: a %s issues no key (approve it as a plan change)", r.Kind)
		}
		k := *key
		k.Consumer = keygate.Ref{ID: r.Consumer.ID}
		k.AllowedServices, k.AllowedRoutes = slices.Clone(r.Services), slices.Clone(r.Routes)
		k.RotatedFrom, k.SuccessorID = "", ""
		if k.Plan == nil || k.Plan.IsZero() {
			if k.Plan, err = requestedPlan(ctx, tx, r.Plan); err != nil {
				return nil, err
			}
		}
		if issued, err = db.insertKey(ctx, tx, &k); err != nil {
			return nil, err
		}
		sealed, err := sealDataKey(ctx, tx, keygate.SealedAccessPickup, r.ID, seal)
		if err != nil {
			return nil, err
		}
		now := db.stamp()
		r.Status, r.DecidedBy, r.DecisionReason, r.DecidedAt, r.KeyID = keygate.AccessApproved, d.By, d.Reason, &now, issued.ID
		if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET status = ?, decided_by = ?, decision_reason = ?,
			decided_at = ?, key_id = ?, pickup = ? WHERE id = ?`,
			string(r.Status), r.DecidedBy, r.DecisionReason, micros(now), r.KeyID, sealed.Ciphertext, r.ID); err != nil {
			return nil, fmt.Errorf("store: approve access request: %w", err)
		}
		if err := db.record(ctx, tx, "access_request", "approved", r.ID); err != nil {
			return nil, err
		}
		return []keygate.Change{{Kind: keygate.KeyChanged, Op: keygate.Created, ID: issued.ID, KeyIdentifier: issued.Identifier}}, nil
	})
	if err != nil {
		return nil, err
	}
	*key = *issued
	return r, nil
}

// ApprovePlanChange switches the consumer's (or key's) plan; see
// keygate.AccessRequestStore. Only plan_id changes: the key rows and the
// usage counted for them are untouched, so the keys keep working throughout.
func (db *DB) ApprovePlanChange(ctx context.Context, id string, d keygate.AccessDecision) (*keygate.AccessRequest, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var r *keygate.AccessRequest
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if r, err = pendingAccessRequest(ctx, tx, id); err != nil {
			return nil, err
		}
		if r.Kind != keygate.AccessKindPlanChange {
			return nil, keygate.Errorf(keygate.EINVALID, "access request: not a plan change")
		}
		plan, err := requestedPlan(ctx, tx, r.Plan)
		if err != nil {
			return nil, err
		}
		if plan == nil {
			return nil, keygate.Errorf(keygate.EINVALID, "plan: no usage plan %q", r.Plan)
		}
		now := db.stamp()
		var change keygate.Change
		if r.KeyID != "" {
			before, err := findKey(ctx, tx, r.KeyID)
			if err != nil {
				return nil, err
			}
			after := cloneKey(before)
			after.Plan, after.UpdatedAt = plan, now
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET plan_id = ?, updated_at = ? WHERE id = ?`, plan.ID, micros(now), before.ID); err != nil {
				return nil, fmt.Errorf("store: approve plan change: %w", err)
			}
			tx.summarize(before.ID, snapshot(before), snapshot(after))
			change = keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: before.ID, KeyIdentifier: before.Identifier}
		} else {
			before, err := findConsumer(ctx, tx, r.Consumer.ID)
			if err != nil {
				return nil, err
			}
			after := *before
			after.Plan, after.UpdatedAt = plan, now
			if _, err := tx.ExecContext(ctx, `UPDATE consumers SET plan_id = ?, updated_at = ? WHERE id = ?`, plan.ID, micros(now), before.ID); err != nil {
				return nil, fmt.Errorf("store: approve plan change: %w", err)
			}
			tx.summarize(before.ID, snapshot(before), snapshot(&after))
			change = keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, ID: before.ID}
		}
		r.Status, r.DecidedBy, r.DecisionReason, r.DecidedAt = keygate.AccessApproved, d.By, d.Reason, &now
		if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET status = ?, decided_by = ?, decision_reason = ?,
			decided_at = ? WHERE id = ?`, string(r.Status), r.DecidedBy, r.DecisionReason, micros(now), r.ID); err != nil {
			return nil, fmt.Errorf("store: approve plan change: %w", err)
		}
		if err := db.record(ctx, tx, "access_request", "approved", r.ID); err != nil {
			return nil, err
		}
		return []keygate.Change{change}, nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// requestedPlan returns the usage plan an access request's plan names, by
// name: nil when it names none, and is then only a label.
func requestedPlan(ctx context.Context, tx *Tx, name string) (*keygate.Ref, error) {
	if name == "" {
		return nil, nil
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM plans WHERE name = ?`, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("store: approve access request: %w", err)
	}
	return &keygate.Ref{ID: id}, nil
}

func (db *DB) DenyAccessRequest(ctx context.Context, id string, d keygate.AccessDecision) (*keygate.AccessRequest, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var r *keygate.AccessRequest
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if r, err = pendingAccessRequest(ctx, tx, id); err != nil {
			return nil, err
		}
		now := db.stamp()
		r.Status, r.DecidedBy, r.DecisionReason, r.DecidedAt = keygate.AccessDenied, d.By, d.Reason, &now
		if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET status = ?, decided_by = ?, decision_reason = ?,
			decided_at = ? WHERE id = ?`, string(r.Status), r.DecidedBy, r.DecisionReason, micros(now), r.ID); err != nil {
			return nil, fmt.Errorf("store: deny access request: %w", err)
		}
		return nil, db.record(ctx, tx, "access_request", "denied", r.ID)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// PickUpAccessRequest opens the sealed key inside the write transaction and
// destroys it in the same one, then empties the log (see shred), so that
// the key can be had once and is then gone from the files.
func (db *DB) PickUpAccessRequest(ctx context.Context, id string, open func(*keygate.Sealed) error) (*keygate.AccessRequest, *keygate.APIKey, error) {
	if open == nil {
		return nil, nil, keygate.Errorf(keygate.EINVALID, "open: required")
	}
	var r *keygate.AccessRequest
	var k *keygate.APIKey
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if r, err = findAccessRequest(ctx, tx, id); err != nil {
			return nil, err
		}
		switch r.Status {
		case keygate.AccessPending:
			return nil, keygate.Errorf(keygate.ECONFLICT, "access request: pending; the key can be picked up once the request is approved")
		case keygate.AccessDenied:
			return nil, keygate.Errorf(keygate.ECONFLICT, "access request: denied; no key was issued")
		case keygate.AccessPickedUp:
			return nil, keygate.Errorf(keygate.ECONFLICT, "access request: the key was picked up already")
		}
		s := &keygate.Sealed{Kind: keygate.SealedAccessPickup, ID: r.ID}
		err = tx.QueryRowContext(ctx, `SELECT d.version, d.wrapped, a.pickup FROM access_requests a
			JOIN data_keys d ON d.kind = ? AND d.id = a.id
			WHERE a.id = ? AND a.pickup IS NOT NULL`+db.d.ForUpdate, keygate.SealedAccessPickup, r.ID).Scan(&s.Version, &s.Wrapped, &s.Ciphertext)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, keygate.Errorf(keygate.ECONFLICT, "access request: the issued key %s was deleted before it was picked up", r.KeyID)
		} else if err != nil {
			return nil, fmt.Errorf("store: pick up access request: %w", err)
		}
		if k, err = findKey(ctx, tx, r.KeyID); keygate.ErrorCode(err) == keygate.ENOTFOUND {
			return nil, keygate.Errorf(keygate.ECONFLICT, "access request: the issued key %s was deleted before it was picked up", r.KeyID)
		} else if err != nil {
			return nil, err
		}
		if err := open(s); err != nil {
			return nil, err
		}
		now := db.stamp()
		r.Status, r.PickedUpAt = keygate.AccessPickedUp, &now
		if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET status = ?, picked_up_at = ?, pickup = NULL WHERE id = ?`,
			string(r.Status), micros(now), r.ID); err != nil {
			return nil, fmt.Errorf("store: pick up access request: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM data_keys WHERE kind = ? AND id = ?`, keygate.SealedAccessPickup, r.ID); err != nil {
			return nil, fmt.Errorf("store: pick up access request: %w", err)
		}
		return nil, db.record(ctx, tx, "access_request", "picked_up", r.ID)
	})
	if err != nil {
		return nil, nil, err
	}
	db.shred(ctx)
	return r, k, nil
}

// Access rules

const accessRuleCols = `id, name, plan, consumer_groups, services, enabled, created_at, updated_at`

func scanAccessRule(row scanner) (*keygate.AccessRule, error) {
	r := &keygate.AccessRule{}
	created, updated := timestamps(&r.Timestamps)
	if err := row.Scan(&r.ID, &r.Name, &r.Plan, listCol(&r.ConsumerGroups), listCol(&r.Services), &r.Enabled,
		created, updated); err != nil {
		return nil, err
	}
	return r, nil
}

// findAccessRule looks a rule up by id when ref looks like one, else by name.
func findAccessRule(ctx context.Context, q querier, ref string) (*keygate.AccessRule, error) {
	where, key := byRef(ref, "name")
	r, err := scanAccessRule(q.QueryRowContext(ctx, `SELECT `+accessRuleCols+` FROM access_rules WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "access rule %q not found", ref)
	}
	return r, nil
}

func (db *DB) FindAccessRule(ctx context.Context, ref string) (*keygate.AccessRule, error) {
	return findAccessRule(ctx, db.r, ref)
}

func (db *DB) ListAccessRules(ctx context.Context, p keygate.Page) ([]*keygate.AccessRule, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+accessRuleCols+` FROM access_rules WHERE id > ? ORDER BY id LIMIT ?`,
		scanAccessRule, func(r *keygate.AccessRule) string { return r.ID })
}

func (db *DB) CreateAccessRule(ctx context.Context, r *keygate.AccessRule) error {
	if r == nil {
		return keygate.Errorf(keygate.EINVALID, "access rule: required")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	v := *r // written back only once stored
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		now := db.stamp()
		v.ID, v.CreatedAt, v.UpdatedAt = id, now, now
		v.ConsumerGroups, v.Services = slices.Clone(r.ConsumerGroups), slices.Clone(r.Services)
		v.Normalize()
		if err := saveAccessRule(ctx, tx, &v, true); err != nil {
			return nil, err
		}
		return nil, db.record(ctx, tx, "access_rule", "created", v.ID)
	})
	if err != nil {
		return err
	}
	*r = v
	return nil
}

func (db *DB) UpdateAccessRule(ctx context.Context, ref string, update func(*keygate.AccessRule) error) (*keygate.AccessRule, error) {
	var r *keygate.AccessRule
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if r, err = findAccessRule(ctx, tx, ref); err != nil {
			return nil, err
		}
		id, created := r.ID, r.CreatedAt
		before := snapshot(r)
		if err := update(r); err != nil {
			return nil, err
		}
		r.ID, r.CreatedAt, r.UpdatedAt = id, created, db.stamp()
		r.Normalize()
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if err := saveAccessRule(ctx, tx, r, false); err != nil {
			return nil, err
		}
		tx.summarize(r.ID, before, snapshot(r))
		return nil, db.record(ctx, tx, "access_rule", "updated", r.ID)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func saveAccessRule(ctx context.Context, tx *Tx, r *keygate.AccessRule, insert bool) error {
	query := `UPDATE access_rules SET name = ?2, plan = ?3, consumer_groups = ?4, services = ?5, enabled = ?6,
		updated_at = ?8 WHERE id = ?1 AND created_at = ?7`
	if insert {
		query = `INSERT INTO access_rules (` + accessRuleCols + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`
	}
	_, err := tx.ExecContext(ctx, query, r.ID, r.Name, r.Plan, encodeList(r.ConsumerGroups), encodeList(r.Services),
		r.Enabled, micros(r.CreatedAt), micros(r.UpdatedAt))
	if code, col := constraint(err); code == Unique && col == "name" {
		return keygate.Errorf(keygate.ECONFLICT, "name: an access rule named %q already exists", r.Name)
	}
	if err != nil {
		return fmt.Errorf("store: save access rule: %w", err)
	}
	return nil
}

func (db *DB) DeleteAccessRule(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		where, key := byRef(ref, "name")
		var id string
		err := tx.QueryRowContext(ctx, `DELETE FROM access_rules WHERE `+where+` RETURNING id`, key).Scan(&id)
		if err != nil {
			return nil, notFound(err, "access rule %q not found", ref)
		}
		return nil, db.record(ctx, tx, "access_rule", "deleted", id)
	})
}

// waitingPickups reports whether access requests whose column (consumer_id
// or key_id) is value hold a sealed key not picked up yet: deleting the
// consumer or the key shreds it, and the log must then be emptied.
func waitingPickups(ctx context.Context, tx *Tx, column, value string) (bool, error) {
	if column != "consumer_id" && column != "key_id" {
		return false, fmt.Errorf("store: waiting pickups: unexpected column %q", column)
	}
	var found bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM access_requests WHERE `+column+` = ? AND pickup IS NOT NULL)`,
		value).Scan(&found); err != nil {
		return false, fmt.Errorf("store: waiting pickups: %w", err)
	}
	return found, nil
}
