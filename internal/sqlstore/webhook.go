package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

var _ keygate.WebhookStore = (*DB)(nil)

// A webhook's signing secret is sealed like an HMAC credential's: the row
// holds the ciphertext, its data key is in data_keys under
// (keygate.SealedWebhookSecret, the webhook's id), and a trigger deletes the
// data key with the row (see 0006_webhooks.sql).
//
// Webhooks are cached nowhere the Change stream feeds (the dispatcher reads
// what it sends from the store), so their writes emit no changes.
//
// On PostgreSQL, ClaimDeliveries is an UPDATE of the rows a SELECT ... FOR
// UPDATE SKIP LOCKED picked; here BEGIN IMMEDIATE already makes every claim
// exclusive, across processes too.

const webhookCols = `w.id, w.consumer_id, w.url, w.events, w.enabled, w.description, w.created_at, w.updated_at`

func scanWebhook(row scanner) (*keygate.Webhook, error) {
	w := &keygate.Webhook{}
	var consumer sql.NullString
	created, updated := timestamps(&w.Timestamps)
	if err := row.Scan(&w.ID, &consumer, &w.URL, listCol(&w.Events), &w.Enabled, &w.Description, created, updated); err != nil {
		return nil, err
	}
	w.ConsumerID = consumer.String
	return w, nil
}

func findWebhook(ctx context.Context, q querier, id string) (*keygate.Webhook, error) {
	w, err := scanWebhook(q.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks w WHERE w.id = ?`, strings.ToLower(id)))
	if err != nil {
		return nil, notFound(err, "webhook %q not found", id)
	}
	return w, nil
}

func (db *DB) FindWebhook(ctx context.Context, id string) (*keygate.Webhook, error) {
	return findWebhook(ctx, db.r, id)
}

func (db *DB) ListWebhooks(ctx context.Context, f keygate.WebhookFilter, p keygate.Page) ([]*keygate.Webhook, string, error) {
	// Ids are UUIDv7, so id order is creation order.
	return listPage(ctx, db.r, p, `SELECT `+webhookCols+` FROM webhooks w
		WHERE (?1 = '' OR w.consumer_id = ?1) AND w.id > ?2 ORDER BY w.id LIMIT ?3`,
		scanWebhook, func(w *keygate.Webhook) string { return w.ID }, strings.ToLower(f.ConsumerID))
}

// CreateWebhook stores w with the secret seal returns. As in
// CreateHMACCredential, seal runs inside the write transaction once the id
// is known and the consumer checked, so that nothing is sealed for a webhook
// that cannot be stored and nothing is stored when sealing fails.
func (db *DB) CreateWebhook(ctx context.Context, w *keygate.Webhook, seal func(id string) (*keygate.Sealed, error)) error {
	switch {
	case w == nil:
		return keygate.Errorf(keygate.EINVALID, "webhook: required")
	case seal == nil:
		return keygate.Errorf(keygate.EINVALID, "secret: required")
	}
	v := *w // written back only once stored
	v.Events = slices.Clone(w.Events)
	v.Normalize()
	if err := v.Validate(); err != nil {
		return err
	}
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if v.ConsumerID != "" {
			c, err := findOwner(ctx, tx, v.ConsumerID)
			if err != nil {
				return nil, err
			}
			v.ConsumerID = c.ID
		}
		id, err := newID()
		if err != nil {
			return nil, err
		}
		sealed, err := sealDataKey(ctx, tx, keygate.SealedWebhookSecret, id, seal)
		if err != nil {
			return nil, err
		}
		now := db.stamp()
		v.ID, v.CreatedAt, v.UpdatedAt = id, now, now
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, consumer_id, url, events, enabled, description, secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, nullString(v.ConsumerID), v.URL, encodeList(v.Events), v.Enabled, v.Description, sealed.Ciphertext,
			micros(v.CreatedAt), micros(v.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("store: create webhook: %w", err)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	*w = v
	return nil
}

func (db *DB) UpdateWebhook(ctx context.Context, id string, update func(*keygate.Webhook) error) (*keygate.Webhook, error) {
	var out *keygate.Webhook
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		stored, err := findWebhook(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		v := *stored
		v.Events = slices.Clone(stored.Events)
		if err := update(&v); err != nil {
			return nil, err
		}
		v.Normalize()
		if err := v.Validate(); err != nil {
			return nil, err
		}
		v.ID, v.ConsumerID, v.CreatedAt, v.UpdatedAt = stored.ID, stored.ConsumerID, stored.CreatedAt, db.stamp()
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, events = ?, enabled = ?, description = ?, updated_at = ? WHERE id = ?`,
			v.URL, encodeList(v.Events), v.Enabled, v.Description, micros(v.UpdatedAt), v.ID); err != nil {
			return nil, fmt.Errorf("store: update webhook: %w", err)
		}
		out = &v
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteWebhook deletes the webhook and, by cascade and trigger, its
// deliveries and its data key, then empties the log (see shred). Events left
// without deliveries go at the next PruneWebhookDeliveries.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, strings.ToLower(id))
		if err != nil {
			return nil, fmt.Errorf("store: delete webhook: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("store: delete webhook: %w", err)
		} else if n == 0 {
			return nil, keygate.Errorf(keygate.ENOTFOUND, "webhook %q not found", id)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	db.shred(ctx)
	return nil
}

// maxPayload bounds an event's JSON body.
const maxPayload = 256 << 10

// prepareEvent validates e, assigns its id and time when missing and
// returns the body its deliveries send.
func (db *DB) prepareEvent(e *keygate.Event, allowTest bool) ([]byte, error) {
	switch {
	case e == nil:
		return nil, keygate.Errorf(keygate.EINVALID, "event: required")
	case !slices.Contains(keygate.EventTypes, e.Type) && !(allowTest && e.Type == keygate.EventWebhookTest):
		return nil, keygate.Errorf(keygate.EINVALID, "type: unknown event type %q", e.Type)
	case e.ID != "" && !keygate.ValidEventID(e.ID):
		return nil, keygate.Errorf(keygate.EINVALID, "id: must be 1-128 letters, digits, '.', '_' or '-'")
	}
	if e.ID == "" {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		e.ID = id
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = db.stamp()
	} else {
		e.CreatedAt = *normalize(&e.CreatedAt)
	}
	body := *e
	if body.Data == nil {
		body.Data = map[string]any{} // receivers read an object, never null
	}
	payload, err := json.Marshal(body)
	switch {
	case err != nil:
		return nil, keygate.Errorf(keygate.EINVALID, "data: cannot be encoded as JSON")
	case len(payload) > maxPayload:
		return nil, keygate.Errorf(keygate.EINVALID, "data: the event is larger than %d bytes as JSON", maxPayload)
	}
	return payload, nil
}

func (db *DB) EnqueueEvent(ctx context.Context, e *keygate.Event) (int, error) {
	payload, err := db.prepareEvent(e, false)
	if err != nil {
		return 0, err
	}
	consumer := strings.ToLower(e.ConsumerID)
	// Most events have no subscriber: find that out on a reader, without
	// queueing for the write lock. A webhook created just after this read
	// misses the event as if it had been created after the event.
	var matched bool
	if err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks w WHERE `+db.matchingWebhooks+`)`,
		consumer, e.Type).Scan(&matched); err != nil {
		return 0, storeError(fmt.Errorf("store: enqueue event: %w", err))
	}
	if !matched {
		return 0, nil
	}
	var queued int
	err = db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		queued = 0 // a transaction run again queues again
		rows, err := tx.QueryContext(ctx, `SELECT w.id FROM webhooks w WHERE `+db.matchingWebhooks+` ORDER BY w.id`, consumer, e.Type)
		if err != nil {
			return nil, fmt.Errorf("store: enqueue event: %w", err)
		}
		var webhooks []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: enqueue event: %w", err)
			}
			webhooks = append(webhooks, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: enqueue event: %w", err)
		}
		if len(webhooks) == 0 {
			return nil, nil
		}
		if inserted, err := insertEvent(ctx, tx, e, payload); err != nil || !inserted {
			return nil, err // not inserted: queued before, under the same id
		}
		now := db.stamp()
		for _, w := range webhooks {
			if _, err := insertDelivery(ctx, tx, w, e.ID, now); err != nil {
				return nil, err
			}
		}
		queued = len(webhooks)
		return nil, nil
	})
	if err != nil {
		return 0, err
	}
	return queued, nil
}

func (db *DB) EnqueueWebhookEvent(ctx context.Context, id string, e *keygate.Event) (*keygate.WebhookDelivery, error) {
	payload, err := db.prepareEvent(e, true)
	if err != nil {
		return nil, err
	}
	var d *keygate.WebhookDelivery
	err = db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		w, err := findWebhook(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if inserted, err := insertEvent(ctx, tx, e, payload); err != nil {
			return nil, err
		} else if !inserted {
			return nil, keygate.Errorf(keygate.ECONFLICT, "id: an event with id %q exists already", e.ID)
		}
		deliveryID, err := insertDelivery(ctx, tx, w.ID, e.ID, db.stamp())
		if err != nil {
			return nil, err
		}
		d, err = findDelivery(ctx, tx, deliveryID)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// insertEvent stores an event unless one with its id is stored already, and
// reports whether it did.
func insertEvent(ctx context.Context, tx *Tx, e *keygate.Event, payload []byte) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (id, type, consumer_id, payload, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Type, nullString(strings.ToLower(e.ConsumerID)), string(payload), micros(e.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("store: store event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: store event: %w", err)
	}
	return n == 1, nil
}

// insertDelivery queues a delivery due at now and returns its id.
func insertDelivery(ctx context.Context, tx *Tx, webhookID, eventID string, now time.Time) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, 0, ?, ?, ?)`, id, webhookID, eventID, string(keygate.DeliveryPending), micros(now), micros(now), micros(now)); err != nil {
		return "", fmt.Errorf("store: queue delivery: %w", err)
	}
	return id, nil
}

const deliveryCols = `d.id, d.webhook_id, d.event_id, e.type, e.payload, d.attempts, d.status, d.next_attempt_at,
	d.last_status, d.last_error, d.created_at, d.updated_at, d.delivered_at`

const deliveryFrom = ` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id`

func deliveryDest(d *keygate.WebhookDelivery, lastStatus *sql.NullInt64, lastError *sql.NullString) []any {
	return []any{&d.ID, &d.WebhookID, &d.EventID, &d.EventType, rawColumn{&d.Payload}, &d.Attempts, &d.Status,
		nullTimeColumn{&d.NextAttemptAt}, lastStatus, lastError, timeColumn{&d.CreatedAt}, timeColumn{&d.UpdatedAt},
		nullTimeColumn{&d.DeliveredAt}}
}

func scanDelivery(row scanner) (*keygate.WebhookDelivery, error) {
	d := &keygate.WebhookDelivery{}
	var lastStatus sql.NullInt64
	var lastError sql.NullString
	if err := row.Scan(deliveryDest(d, &lastStatus, &lastError)...); err != nil {
		return nil, err
	}
	d.LastStatus, d.LastError = int(lastStatus.Int64), lastError.String
	return d, nil
}

// rawColumn scans a JSON text column as it is.
type rawColumn struct{ dst *json.RawMessage }

func (c rawColumn) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*c.dst = json.RawMessage(v)
	case []byte:
		*c.dst = json.RawMessage(slices.Clone(v))
	default:
		return fmt.Errorf("json column: unexpected %T", src)
	}
	return nil
}

func findDelivery(ctx context.Context, q querier, id string) (*keygate.WebhookDelivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx, `SELECT `+deliveryCols+deliveryFrom+` WHERE d.id = ?`, strings.ToLower(id)))
	if err != nil {
		return nil, notFound(err, "webhook delivery %q not found", id)
	}
	return d, nil
}

func (db *DB) FindWebhookDelivery(ctx context.Context, id string) (*keygate.WebhookDelivery, error) {
	return findDelivery(ctx, db.r, id)
}

func (db *DB) ListWebhookDeliveries(ctx context.Context, f keygate.WebhookDeliveryFilter, p keygate.Page) ([]*keygate.WebhookDelivery, string, error) {
	if f.WebhookID == "" {
		return nil, "", keygate.Errorf(keygate.EINVALID, "webhook_id: required")
	}
	if err := validDeliveryStatus(f.Status); err != nil {
		return nil, "", err
	}
	// Newest first: what someone looking into a failing receiver wants.
	return listPage(ctx, db.r, p, `SELECT `+deliveryCols+deliveryFrom+`
		WHERE d.webhook_id = ?1 AND (?2 = '' OR d.status = ?2) AND (?3 = '' OR d.id < ?3) ORDER BY d.id DESC LIMIT ?4`,
		scanDelivery, func(d *keygate.WebhookDelivery) string { return d.ID }, strings.ToLower(f.WebhookID), string(f.Status))
}

func validDeliveryStatus(s keygate.DeliveryStatus) error {
	switch s {
	case "", keygate.DeliveryPending, keygate.DeliveryDelivered, keygate.DeliveryFailed:
		return nil
	}
	return keygate.Errorf(keygate.EINVALID, "status: must be pending, delivered or failed")
}

// maxClaim bounds one claim.
const maxClaim = 1000

func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*keygate.ClaimedDelivery, error) {
	switch {
	case limit < 1 || limit > maxClaim:
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be from 1 to %d", maxClaim)
	case lease < time.Millisecond:
		return nil, keygate.Errorf(keygate.EINVALID, "lease: must be at least a millisecond")
	}
	now = now.UTC().Truncate(time.Microsecond)
	// Dispatchers poll: most polls find nothing due, and must find that out
	// without taking the write lock.
	var due bool
	if err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at <= ?)`, micros(now)).Scan(&due); err != nil {
		return nil, storeError(fmt.Errorf("store: claim deliveries: %w", err))
	}
	if !due {
		return []*keygate.ClaimedDelivery{}, nil
	}
	token := rand.Text()
	until := now.Add(lease)
	claimed := []*keygate.ClaimedDelivery{}
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		claimed = claimed[:0]
		// A webhook's in-flight deliveries are its live leases; rank numbers
		// its due ones, so that it gets no more than its free places.
		rows, err := tx.QueryContext(ctx, `WITH busy AS (
				SELECT webhook_id, count(*) AS n FROM webhook_deliveries
				WHERE lease IS NOT NULL AND status = 'pending' AND next_attempt_at > ?4 GROUP BY webhook_id
			), due AS (
				SELECT d.id, d.next_attempt_at, d.webhook_id,
					row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS rank
				FROM webhook_deliveries d
				JOIN webhooks w ON w.id = d.webhook_id
				JOIN webhook_events e ON e.id = d.event_id
				WHERE d.status = 'pending' AND d.next_attempt_at <= ?4 AND (w.enabled OR e.type = ?5)
			)
			UPDATE webhook_deliveries SET lease = ?1, next_attempt_at = ?2, attempts = attempts + 1, updated_at = ?3
			WHERE id IN (SELECT due.id FROM due LEFT JOIN busy ON busy.webhook_id = due.webhook_id
				WHERE due.rank + coalesce(busy.n, 0) <= ?7
				ORDER BY due.next_attempt_at, due.id LIMIT ?6)
			RETURNING id`,
			token, micros(until), micros(db.stamp()), micros(now), keygate.EventWebhookTest, limit, keygate.MaxLeasedPerWebhook)
		if err != nil {
			return nil, fmt.Errorf("store: claim deliveries: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: claim deliveries: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: claim deliveries: %w", err)
		}
		if len(ids) == 0 {
			return nil, nil
		}
		rows, err = tx.QueryContext(ctx, `SELECT `+deliveryCols+`, w.url, w.secret, k.version, k.wrapped`+deliveryFrom+`
			JOIN webhooks w ON w.id = d.webhook_id
			JOIN data_keys k ON k.kind = '`+keygate.SealedWebhookSecret+`' AND k.id = w.id
			WHERE d.id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY d.next_attempt_at, d.id`, ids...)
		if err != nil {
			return nil, fmt.Errorf("store: claim deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c := &keygate.ClaimedDelivery{Lease: token, Secret: &keygate.Sealed{Kind: keygate.SealedWebhookSecret}}
			var lastStatus sql.NullInt64
			var lastError sql.NullString
			dest := append(deliveryDest(&c.WebhookDelivery, &lastStatus, &lastError), &c.URL, &c.Secret.Ciphertext, &c.Secret.Version, &c.Secret.Wrapped)
			if err := rows.Scan(dest...); err != nil {
				return nil, fmt.Errorf("store: claim deliveries: %w", err)
			}
			c.LastStatus, c.LastError = int(lastStatus.Int64), lastError.String
			c.Secret.ID = c.WebhookID
			claimed = append(claimed, c)
		}
		return nil, rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

func (db *DB) RecordAttempt(ctx context.Context, id string, a keygate.WebhookAttempt) error {
	switch {
	case a.Lease == "":
		return keygate.Errorf(keygate.EINVALID, "lease: required")
	case a.StatusCode < 0 || a.StatusCode > 999:
		return keygate.Errorf(keygate.EINVALID, "status_code: must be an HTTP status or 0")
	}
	var lastStatus, lastError any
	if a.StatusCode != 0 {
		lastStatus = a.StatusCode
	}
	if msg := keygate.TruncateDeliveryError(strings.ToValidUTF8(a.Error, "?")); msg != "" && !a.Delivered {
		lastError = msg
	}
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		now := db.stamp()
		status, next, delivered := keygate.DeliveryFailed, any(nil), any(nil)
		switch {
		case a.Delivered:
			status, delivered = keygate.DeliveryDelivered, micros(now)
		case a.RetryAt != nil:
			status, next = keygate.DeliveryPending, micros(a.RetryAt.UTC().Truncate(time.Microsecond))
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, lease = NULL,
			last_status = ?, last_error = ?, delivered_at = ?, updated_at = ?
			WHERE id = ? AND lease = ? AND status = 'pending'`,
			string(status), next, lastStatus, lastError, delivered, micros(now), strings.ToLower(id), a.Lease)
		if err != nil {
			return nil, fmt.Errorf("store: record attempt: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("store: record attempt: %w", err)
		} else if n == 1 {
			return nil, nil
		}
		if _, err := findDelivery(ctx, tx, id); err != nil {
			return nil, err
		}
		return nil, keygate.Errorf(keygate.ECONFLICT, "lease: delivery %s is not leased to this sender any more", id)
	})
}

// pruneBatch is how many deliveries one prune transaction deletes at most,
// so that pruning never holds the write lock for long.
const pruneBatch = 1000

// PruneWebhookDeliveries deletes in batches, each its own transaction.
func (db *DB) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	cutoff := micros(before.UTC().Truncate(time.Microsecond))
	total := 0
	for {
		var n int64
		err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
			res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
				SELECT id FROM webhook_deliveries WHERE created_at < ? LIMIT ?)`, cutoff, pruneBatch)
			if err != nil {
				return nil, fmt.Errorf("store: prune deliveries: %w", err)
			}
			n, err = res.RowsAffected()
			return nil, err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneBatch {
			break
		}
	}
	for {
		var n int64
		err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
			res, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE id IN (
				SELECT e.id FROM webhook_events e WHERE e.created_at < ?
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) LIMIT ?)`, cutoff, pruneBatch)
			if err != nil {
				return nil, fmt.Errorf("store: prune events: %w", err)
			}
			n, err = res.RowsAffected()
			return nil, err
		})
		if err != nil {
			return total, err
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}
