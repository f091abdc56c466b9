package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// newCredits is a copy of c as stored afresh at now: validated, refilled
// at now.
func newCredits(c *keygate.Credits, now time.Time) (*keygate.Credits, error) {
	if c == nil {
		return nil, nil
	}
	if err := c.Validate("credits"); err != nil {
		return nil, err
	}
	v := *c
	if c.Refill != nil {
		r := *c.Refill
		v.Refill = &r
	}
	at := now.UTC().Truncate(time.Microsecond)
	v.RefilledAt = &at
	return &v, nil
}

func sameCredits(a, b *keygate.Credits) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Remaining != b.Remaining || (a.Refill == nil) != (b.Refill == nil) {
		return false
	}
	return a.Refill == nil || *a.Refill == *b.Refill
}

// SpendCredits refills lazily, then deducts with one conditional UPDATE
// (remaining >= cost), which both engines apply atomically to the row: no
// two spenders can both take the last credit, on any number of nodes. The
// refill is a compare-and-set on credits_refilled_at, so that it happens
// once however many spenders see it due.
func (db *DB) SpendCredits(ctx context.Context, id string, cost int64, now time.Time) (keygate.CreditSpend, error) {
	var out keygate.CreditSpend
	if cost < 0 {
		return out, keygate.Errorf(keygate.EINVALID, "cost: must not be negative")
	}
	id = strings.ToLower(id)
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		out = keygate.CreditSpend{}
		var remaining, refilledAt sql.NullInt64
		var refillJSON sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT credits_remaining, credits_refill, credits_refilled_at FROM api_keys WHERE id = ?`, id).
			Scan(&remaining, &refillJSON, &refilledAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, keygate.Errorf(keygate.ENOTFOUND, "key not found")
		}
		if err != nil {
			return nil, fmt.Errorf("store: spend credits: %w", err)
		}
		if !remaining.Valid {
			return nil, nil // no credits: unlimited
		}
		out.Limited = true
		c := &keygate.Credits{Remaining: remaining.Int64}
		if err := (creditsRefill{&c}).Scan(nullStringValue(refillJSON)); err != nil {
			return nil, fmt.Errorf("store: spend credits: %w", err)
		}
		out.Refill = c.Refill
		if r := c.Refill; r != nil {
			last := r.LastRefill(now)
			if !refilledAt.Valid || refilledAt.Int64 < last.UnixMicro() {
				if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET credits_remaining = ?, credits_refilled_at = ?
					WHERE id = ? AND credits_refilled_at IS NOT DISTINCT FROM ?`,
					r.Amount, micros(now), id, nullInt(refilledAt)); err != nil {
					return nil, fmt.Errorf("store: refill credits: %w", err)
				}
			}
		}
		var left int64
		err = tx.QueryRowContext(ctx, `UPDATE api_keys SET credits_remaining = credits_remaining - ?
			WHERE id = ? AND credits_remaining >= ? RETURNING credits_remaining`, cost, id, cost).Scan(&left)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Not enough: what is left, as it stands.
			if err := tx.QueryRowContext(ctx, `SELECT credits_remaining FROM api_keys WHERE id = ?`, id).Scan(&left); err != nil {
				return nil, fmt.Errorf("store: spend credits: %w", err)
			}
			out.Remaining, out.Before = left, left
		case err != nil:
			return nil, fmt.Errorf("store: spend credits: %w", err)
		default:
			out.Spent, out.Remaining, out.Before = true, left, left+cost
		}
		return nil, nil
	})
	return out, err
}

func nullStringValue(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}

func nullInt(n sql.NullInt64) any {
	if !n.Valid {
		return nil
	}
	return n.Int64
}
