package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/keygate/keygate"
)

// A plan is a row of plans and its route adjustments, rows of plan_routes in
// the order given. Both are read in one read transaction, so that a plan is
// never seen half updated.

const planCols = `id, name, description, rate, burst, quota_minute, quota_hour, quota_day, quota_month, limit_by, tags,
	created_at, updated_at, hide_client_headers, limits`

const planRouteCols = `plan_id, position, route_id, cost, rate, burst, quotas`

func scanPlan(row scanner) (*keygate.Plan, error) {
	p := &keygate.Plan{Routes: []keygate.PlanRoute{}}
	created, updated := timestamps(&p.Timestamps)
	var named *[]keygate.NamedLimit
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Rate, &p.Burst, &p.Quotas.Minute, &p.Quotas.Hour,
		&p.Quotas.Day, &p.Quotas.Month, &p.LimitBy, listCol(&p.Tags), created, updated, &p.HideClientHeaders,
		jsonColumn[[]keygate.NamedLimit]{&named}); err != nil {
		return nil, err
	}
	if named != nil && len(*named) > 0 {
		p.Named = *named
	}
	return p, nil
}

// planRoutes reads the route adjustments of the plans with ids in [first,
// last] (ids sort as the plans are listed) into them.
func planRoutes(ctx context.Context, q querier, plans []*keygate.Plan) error {
	if len(plans) == 0 {
		return nil
	}
	byID := make(map[string]*keygate.Plan, len(plans))
	for _, p := range plans {
		byID[p.ID] = p
	}
	rows, err := q.QueryContext(ctx, `SELECT `+planRouteCols+` FROM plan_routes WHERE plan_id BETWEEN ? AND ?
		ORDER BY plan_id, position`, plans[0].ID, plans[len(plans)-1].ID)
	if err != nil {
		return fmt.Errorf("store: plan routes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var planID string
		var position int
		var r keygate.PlanRoute
		if err := rows.Scan(&planID, &position, &r.Route.ID, &r.Cost, &r.Rate, &r.Burst,
			jsonColumn[keygate.Quotas]{&r.Quotas}); err != nil {
			return fmt.Errorf("store: plan routes: %w", err)
		}
		if p := byID[planID]; p != nil {
			p.Routes = append(p.Routes, r)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: plan routes: %w", err)
	}
	return nil
}

// findPlan looks a plan up by id when ref looks like one, else by name. q
// must be a transaction (or the plan and its routes may not match).
func findPlan(ctx context.Context, q querier, ref string) (*keygate.Plan, error) {
	where, key := byRef(ref, "name")
	p, err := scanPlan(q.QueryRowContext(ctx, `SELECT `+planCols+` FROM plans WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "plan %q not found", ref)
	}
	if err := planRoutes(ctx, q, []*keygate.Plan{p}); err != nil {
		return nil, storeError(err)
	}
	return p, nil
}

// read runs fn in one read-only transaction, on one snapshot.
func (db *DB) read(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.r.db.BeginTx(ctx, db.d.ReadTxOptions)
	if err != nil {
		return storeError(fmt.Errorf("%s: begin: %w", db.d.Name, db.d.wrap(err)))
	}
	defer tx.Rollback()
	return storeError(fn(&Tx{tx: tx, d: db.d}))
}

func (db *DB) FindPlan(ctx context.Context, ref string) (*keygate.Plan, error) {
	var p *keygate.Plan
	err := db.read(ctx, func(tx *Tx) error {
		var err error
		p, err = findPlan(ctx, tx, ref)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (db *DB) ListPlans(ctx context.Context, pg keygate.Page) ([]*keygate.Plan, string, error) {
	var page []*keygate.Plan
	var next string
	err := db.read(ctx, func(tx *Tx) error {
		var err error
		page, next, err = listPage(ctx, tx, pg, `SELECT `+planCols+` FROM plans WHERE id > ? ORDER BY id LIMIT ?`,
			scanPlan, func(p *keygate.Plan) string { return p.ID })
		if err != nil {
			return err
		}
		return planRoutes(ctx, tx, page)
	})
	if err != nil {
		return nil, "", err
	}
	return page, next, nil
}

func (db *DB) CreatePlan(ctx context.Context, p *keygate.Plan) error {
	return plans.create(ctx, db, p)
}

func (db *DB) UpdatePlan(ctx context.Context, ref string, update func(*keygate.Plan) error) (*keygate.Plan, error) {
	return plans.update(ctx, db, ref, update)
}

// savePlan validates p, resolves its route references to ids and stores
// it with its route adjustments, replacing those stored before.
func savePlan(ctx context.Context, tx *Tx, p *keygate.Plan, insert bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	// A copy: the caller's slice must not change when the save fails.
	p.Routes = slices.Clone(p.Routes)
	seen := make(map[string]bool, len(p.Routes))
	for i := range p.Routes {
		field := "routes[" + strconv.Itoa(i) + "].route"
		id, err := resolve(ctx, tx, "routes", "name", "route", field, p.Routes[i].Route)
		if err != nil {
			return err
		}
		if seen[id] { // once by id and once by name
			return keygate.Errorf(keygate.EINVALID, "%s: listed twice", field)
		}
		seen[id] = true
		p.Routes[i].Route = keygate.Ref{ID: id}
	}

	query := `UPDATE plans SET name = ?2, description = ?3, rate = ?4, burst = ?5, quota_minute = ?6, quota_hour = ?7,
		quota_day = ?8, quota_month = ?9, limit_by = ?10, tags = ?11, updated_at = ?13, hide_client_headers = ?14, limits = ?15 WHERE id = ?1 AND created_at = ?12`
	if insert {
		query = `INSERT INTO plans (` + planCols + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)`
	}
	var named any
	if len(p.Named) > 0 {
		var err error
		if named, err = encodeJSON(&p.Named); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, query, p.ID, p.Name, p.Description, p.Rate, p.Burst, p.Quotas.Minute, p.Quotas.Hour,
		p.Quotas.Day, p.Quotas.Month, string(p.LimitBy), encodeList(p.Tags), micros(p.CreatedAt), micros(p.UpdatedAt),
		p.HideClientHeaders, named)
	if code, col := constraint(err); code == Unique && col == "name" {
		return keygate.Errorf(keygate.ECONFLICT, "name: a plan named %q already exists", p.Name)
	}
	if err != nil {
		return fmt.Errorf("store: save plan: %w", err)
	}
	if !insert {
		if _, err := tx.ExecContext(ctx, `DELETE FROM plan_routes WHERE plan_id = ?`, p.ID); err != nil {
			return fmt.Errorf("store: save plan: %w", err)
		}
	}
	for i, r := range p.Routes {
		quotas, err := encodeJSON(r.Quotas)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO plan_routes (`+planRouteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			p.ID, i, r.Route.ID, r.Cost, r.Rate, r.Burst, quotas); err != nil {
			return fmt.Errorf("store: save plan: %w", err)
		}
	}
	return nil
}

// DeletePlan deletes a plan no consumer and no live key is assigned; one
// that is in use is ECONFLICT, with how many of each use it. Ended keys
// (revoked, archived, expired) lose the plan in the same transaction, so
// that they never hold it back and are never left without it when the
// delete is refused.
func (db *DB) DeletePlan(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		p, err := findPlan(ctx, tx, ref)
		if err != nil {
			return nil, err
		}
		// Checked here for a message that says why; the foreign keys would
		// refuse the delete anyway.
		now := micros(db.stamp())
		var nConsumers, nKeys int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM consumers WHERE plan_id = ?1),
			(SELECT count(*) FROM api_keys WHERE plan_id = ?1 AND NOT (`+keyEndedSQL+`))`, p.ID, now).Scan(&nConsumers, &nKeys); err != nil {
			return nil, fmt.Errorf("store: delete plan: %w", err)
		}
		if nConsumers+nKeys > 0 {
			return nil, planInUse(ref, nConsumers, nKeys)
		}
		// The keys left are ended: caches hold them too (a revoked key is
		// cached as revoked), so each is reported.
		changes, err := claim(ctx, tx, func(row scanner) (keygate.Change, error) {
			c := keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated}
			return c, row.Scan(&c.ID, &c.KeyIdentifier)
		}, `UPDATE api_keys SET plan_id = NULL, updated_at = ?2 WHERE plan_id = ?1 AND (`+keyEndedSQL+`)
			RETURNING id, identifier`, p.ID, now)
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM plans WHERE id = ?`, p.ID)
		if code, _ := constraint(err); code == ForeignKey {
			return nil, planInUse(ref, nConsumers, nKeys)
		}
		if err != nil {
			return nil, fmt.Errorf("store: delete plan: %w", err)
		}
		return append(changes, keygate.Change{Kind: keygate.PlanChanged, Op: keygate.Deleted, ID: p.ID}), nil
	})
}

// keyEndedSQL is true for a key of api_keys that can no longer be used at
// ?2 (unix microseconds): revoked, archived or expired (keygate.APIKey.State).
const keyEndedSQL = `status IN ('revoked', 'archived') OR (expires_at IS NOT NULL AND expires_at <= ?2)`

func planInUse(ref string, consumers, keys int) error {
	if consumers+keys == 0 { // only the foreign key knows
		return keygate.Errorf(keygate.ECONFLICT, "plan %q is in use: assign its consumers and keys another plan first", ref)
	}
	return keygate.Errorf(keygate.ECONFLICT, "plan %q is in use by %d consumer(s) and %d live key(s): assign them another plan, or none, first (revoked and expired keys do not count)",
		ref, consumers, keys)
}

// resolve returns the id of the row of table that ref names, by id or by
// its unique column nameCol; a missing one is ENOTFOUND about field.
func resolve(ctx context.Context, q querier, table, nameCol, what, field string, ref keygate.Ref) (string, error) {
	if ref.IsZero() {
		return "", keygate.Errorf(keygate.EINVALID, "%s: required", field)
	}
	where, key := byRef(ref.String(), nameCol)
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE `+where, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", keygate.Errorf(keygate.ENOTFOUND, "%s: no %s %q", field, what, ref.String())
	} else if err != nil {
		return "", fmt.Errorf("store: resolve %s: %w", field, err)
	}
	return id, nil
}

// resolvePlan returns the plan ref as stored: nil for none (a nil or empty
// ref), else a new Ref holding the id of the plan it names.
func resolvePlan(ctx context.Context, q querier, ref *keygate.Ref) (*keygate.Ref, error) {
	if ref == nil || ref.IsZero() {
		return nil, nil
	}
	id, err := resolve(ctx, q, "plans", "name", "plan", "plan", *ref)
	if err != nil {
		return nil, err
	}
	return &keygate.Ref{ID: id}, nil
}
