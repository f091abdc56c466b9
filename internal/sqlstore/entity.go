package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
)

// entity describes how one kind of named entity (service, route, consumer,
// plan) is found and saved, so that creating and updating are written once.
type entity[T any] struct {
	kind keygate.ChangeKind
	find func(ctx context.Context, q querier, ref string) (*T, error)
	save func(ctx context.Context, tx *Tx, v *T, insert bool) error
	// meta returns the fields the store owns: the id and the timestamps.
	meta func(v *T) (id *string, ts *keygate.Timestamps)
}

var (
	services = entity[keygate.Service]{keygate.ServiceChanged, findService, saveService,
		func(s *keygate.Service) (*string, *keygate.Timestamps) { return &s.ID, &s.Timestamps }}
	routes = entity[keygate.Route]{keygate.RouteChanged, findRoute, saveRoute,
		func(r *keygate.Route) (*string, *keygate.Timestamps) { return &r.ID, &r.Timestamps }}
	consumers = entity[keygate.Consumer]{keygate.ConsumerChanged, findConsumer, saveConsumer,
		func(c *keygate.Consumer) (*string, *keygate.Timestamps) { return &c.ID, &c.Timestamps }}
	plans = entity[keygate.Plan]{keygate.PlanChanged, findPlan, savePlan,
		func(p *keygate.Plan) (*string, *keygate.Timestamps) { return &p.ID, &p.Timestamps }}
)

// normalizeLists lets the entity make its nil lists empty, so that the value
// the caller gets back (and the API echoes) has [] where it was given null.
func normalizeLists[T any](v *T) {
	if n, ok := any(v).(interface{ Normalize() }); ok {
		n.Normalize()
	}
}

// create assigns an id and timestamps and inserts v; v is written back only
// once stored, so a failed create leaves the caller's value untouched.
func (e entity[T]) create(ctx context.Context, db *DB, v *T) error {
	stored := *v
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		idField, ts := e.meta(&stored)
		now := db.stamp()
		*idField, ts.CreatedAt, ts.UpdatedAt = id, now, now
		normalizeLists(&stored)
		if err := e.save(ctx, tx, &stored, true); err != nil {
			return nil, err
		}
		return []keygate.Change{{Kind: e.kind, Op: keygate.Created, ID: id}}, nil
	})
	if err != nil {
		return err
	}
	*v = stored
	return nil
}

// update applies fn to the stored value and saves it, in one transaction.
// fn cannot change the id or the creation time.
func (e entity[T]) update(ctx context.Context, db *DB, ref string, fn func(*T) error) (*T, error) {
	var v *T
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		if v, err = e.find(ctx, tx, ref); err != nil {
			return nil, err
		}
		idField, ts := e.meta(v)
		id, created := *idField, ts.CreatedAt
		before := snapshot(v)
		wasEnabled := enabledOf(v)
		if err := fn(v); err != nil {
			return nil, err
		}
		*idField, ts.CreatedAt, ts.UpdatedAt = id, created, db.stamp()
		normalizeLists(v)
		if err := e.save(ctx, tx, v, false); err != nil {
			return nil, err
		}
		tx.summarize(id, before, snapshot(v))
		return []keygate.Change{{Kind: e.kind, Op: keygate.Updated, ID: id, Action: enabledAction(wasEnabled, enabledOf(v))}}, nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// enabledOf is whether v is enabled, for the entities that can be disabled
// (consumers); true for the others.
func enabledOf(v any) bool {
	if c, ok := v.(*keygate.Consumer); ok {
		return keygate.IsEnabled(c.Enabled)
	}
	return true
}

// enabledAction is the audit trail's verb for an update that disabled or
// enabled an entity; "" (updated) for any other.
func enabledAction(before, after bool) string {
	switch {
	case before && !after:
		return "disabled"
	case !before && after:
		return "enabled"
	}
	return ""
}

// markRevoked moves an active credential's row in table to revoked, and the
// record with it; a revoked one stays as it was. Every credential kind but
// keys (whose revocation also ends a rotation) revokes this way.
func (db *DB) markRevoked(ctx context.Context, tx *Tx, table, id string, status *keygate.KeyStatus, revokedAt **time.Time) error {
	if *status != keygate.KeyActive {
		return nil
	}
	now := db.stamp()
	*status, *revokedAt = keygate.KeyRevoked, &now
	if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET status = ?, revoked_at = ? WHERE id = ?`, string(*status), micros(now), id); err != nil {
		return fmt.Errorf("store: revoke %s: %w", table, err)
	}
	return nil
}
