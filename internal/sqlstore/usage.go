package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// defaultUsageLimit is the most rows Usage returns when the query sets no
// Limit: a month by the minute for a handful of keys, years by the day.
const defaultUsageLimit = 10_000

// AddUsage adds the records' counts in one transaction. Usage is not
// audited and emits no Change: no cache holds it, and the gateway writes it
// all the time.
//
// Records of the same minute, consumer, credential and route are added up
// first, then written in bulk (bulkWrite): a gateway that meets many keys
// flushes a row per key, and a statement per row cost a round trip each on
// PostgreSQL and most of the flush's CPU on SQLite (docs/benchmarks.md).
// PostgreSQL refuses one statement that touches a row twice, hence the
// merge. The columns are made once: a transaction run again (it lost to
// another node's flush of the same rows) writes every row again.
func (db *DB) AddUsage(ctx context.Context, records []keygate.UsageRecord) error {
	if len(records) == 0 {
		return nil
	}
	for i, r := range records {
		if r.Minute.IsZero() {
			return keygate.Errorf(keygate.EINVALID, "records[%d].minute: required", i)
		}
		for _, c := range []struct {
			name string
			n    int64
		}{{"allowed", r.Allowed}, {"rejected", r.Rejected}, {"bytes_in", r.BytesIn}, {"bytes_out", r.BytesOut},
			{"verified", r.Verified}, {"verify_rejected", r.VerifyRejected}, {"gateway_valid", r.GatewayValid}} {
			if c.n < 0 {
				return keygate.Errorf(keygate.EINVALID, "records[%d].%s: must not be negative", i, c.name)
			}
		}
	}
	columns := usageColumns(mergeUsage(records))
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if err := db.addUsage.exec(ctx, tx, columns...); err != nil {
			return nil, fmt.Errorf("store: add usage: %w", err)
		}
		return nil, nil
	})
}

// usageRow is a usage record keyed as stored: the minute as unix seconds.
type usageRow struct {
	usageKey
	keygate.UsageRecord
}

type usageKey struct {
	minute                      int64
	consumer, credential, route string
}

// mergeUsage adds up the records that count for one stored row, in the
// order of the index by credential (minute, credential, consumer, route):
// each chunk then adds to a run of neighbouring index pages. A gateway's
// flush comes in that order already (meter.Flush), which the sort only
// checks, and merging neighbours needs no map.
func mergeUsage(records []keygate.UsageRecord) []usageRow {
	rows := make([]usageRow, len(records))
	for i, r := range records {
		rows[i] = usageRow{usageKey{r.Minute.UTC().Truncate(time.Minute).Unix(), r.ConsumerID, r.CredentialID, r.RouteID}, r}
	}
	slices.SortStableFunc(rows, func(a, b usageRow) int { return compareUsageKeys(a.usageKey, b.usageKey) })
	merged := rows[:0]
	for _, r := range rows {
		if n := len(merged); n > 0 && merged[n-1].usageKey == r.usageKey {
			m := &merged[n-1].UsageRecord
			m.Allowed += r.Allowed
			m.Rejected += r.Rejected
			m.BytesIn += r.BytesIn
			m.BytesOut += r.BytesOut
			m.Verified += r.Verified
			m.VerifyRejected += r.VerifyRejected
			m.GatewayValid += r.GatewayValid
			m.ServiceID = cmp.Or(m.ServiceID, r.ServiceID)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func compareUsageKeys(a, b usageKey) int {
	return cmp.Or(cmp.Compare(a.minute, b.minute), strings.Compare(a.credential, b.credential),
		strings.Compare(a.consumer, b.consumer), strings.Compare(a.route, b.route))
}

// addUsage is the upsert of usage rows, in the columns of usageColumns.
func addUsage() *bulkWrite {
	return newBulkWrite(`INSERT INTO usage (minute, consumer_id, credential_id, route_id, allowed, rejected, bytes_in, bytes_out, verified, verify_rejected, service_id, gateway_valid)`,
		[]string{"bigint", "text", "text", "text", "bigint", "bigint", "bigint", "bigint", "bigint", "bigint", "text", "bigint"},
		`ON CONFLICT (minute, consumer_id, credential_id, route_id) DO UPDATE SET
		allowed = usage.allowed + excluded.allowed, rejected = usage.rejected + excluded.rejected,
		bytes_in = usage.bytes_in + excluded.bytes_in, bytes_out = usage.bytes_out + excluded.bytes_out,
		verified = usage.verified + excluded.verified, verify_rejected = usage.verify_rejected + excluded.verify_rejected,
		service_id = CASE WHEN usage.service_id = '' THEN excluded.service_id ELSE usage.service_id END,
		gateway_valid = usage.gateway_valid + excluded.gateway_valid`)
}

// usageColumns are rows as addUsage's columns.
func usageColumns(rows []usageRow) []any {
	n := len(rows)
	minute, allowed, rejected, bytesIn, bytesOut := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	verified, verifyRejected, gatewayValid := make([]int64, n), make([]int64, n), make([]int64, n)
	consumer, credential, route, service := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		minute[i], consumer[i], credential[i], route[i] = r.minute, r.consumer, r.credential, r.route
		allowed[i], rejected[i], bytesIn[i], bytesOut[i] = r.Allowed, r.Rejected, r.BytesIn, r.BytesOut
		verified[i], verifyRejected[i], service[i], gatewayValid[i] = r.Verified, r.VerifyRejected, r.ServiceID, r.GatewayValid
	}
	return []any{minute, consumer, credential, route, allowed, rejected, bytesIn, bytesOut, verified, verifyRejected, service, gatewayValid}
}

func (db *DB) Usage(ctx context.Context, q keygate.UsageQuery) ([]keygate.UsageRow, error) {
	bucket, ok := db.usageBuckets[q.Granularity]
	if !ok {
		return nil, keygate.Errorf(keygate.EINVALID, "granularity: must be one of minute, hour, day, month")
	}
	// Only the conditions that apply, so that the planner can pick the
	// index of the id that is set.
	cond, args, limit, err := countsWhere("minute", q.From, q.To, q.Limit,
		column{"consumer_id", q.ConsumerID}, column{"credential_id", q.CredentialID}, column{"route_id", q.RouteID})
	if err != nil {
		return nil, err
	}
	// A row may hold nothing but the gateway's VALID verifications of a
	// request it answered itself without counting it (a refused payload):
	// not usage.
	cond = andWhere(cond, `(allowed > 0 OR rejected > 0 OR verified > 0 OR verify_rejected > 0)`)
	rows, err := db.r.QueryContext(ctx, `SELECT `+bucket+` AS start, consumer_id, credential_id, route_id,
		CAST(sum(allowed) AS BIGINT), CAST(sum(rejected) AS BIGINT), CAST(sum(bytes_in) AS BIGINT), CAST(sum(bytes_out) AS BIGINT),
		CAST(sum(verified) AS BIGINT), CAST(sum(verify_rejected) AS BIGINT)
		FROM usage `+cond+`
		GROUP BY start, consumer_id, credential_id, route_id
		ORDER BY start, consumer_id, credential_id, route_id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: usage: %w", err))
	}
	defer rows.Close()
	out := []keygate.UsageRow{}
	for rows.Next() {
		if len(out) == limit {
			return nil, keygate.Errorf(keygate.EINVALID,
				"usage: more than %d rows match: narrow the time range, filter by consumer, credential or route, or use a coarser granularity", limit)
		}
		var r keygate.UsageRow
		var start int64
		if err := rows.Scan(&start, &r.ConsumerID, &r.CredentialID, &r.RouteID, &r.Allowed, &r.Rejected, &r.BytesIn, &r.BytesOut, &r.Verified, &r.VerifyRejected); err != nil {
			return nil, storeError(fmt.Errorf("store: usage: %w", err))
		}
		r.Start = time.Unix(start, 0).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: usage: %w", err))
	}
	return out, nil
}

// ceilUnix is t in unix seconds, rounded up: a minute (whole seconds) is at
// or after t exactly when it is at or after ceilUnix(t).
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// usagePruneBatch is how many usage rows one PruneUsage transaction deletes: a
// few milliseconds of the writer, so that the gateway's usage writes and
// admin changes queue behind it only briefly.
const usagePruneBatch = 5000

// PruneUsage deletes usage rows of minutes before before, usagePruneBatch rows
// per transaction, until none is left; see keygate.UsageStore. The rows are
// found through the primary key, which starts with the minute. Like
// AddUsage it emits no change and is not audited.
func (db *DB) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	cutoff := ceilUnix(before) // a minute is before before exactly when it is before cutoff
	var deleted int64
	for {
		if err := ctx.Err(); err != nil {
			return deleted, storeError(err)
		}
		var n int64
		err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
			res, err := tx.ExecContext(ctx, `DELETE FROM usage WHERE (minute, consumer_id, credential_id, route_id) IN
				(SELECT minute, consumer_id, credential_id, route_id FROM usage WHERE minute < ? LIMIT ?)`, cutoff, usagePruneBatch)
			if err != nil {
				return nil, fmt.Errorf("store: prune usage: %w", err)
			}
			n, err = res.RowsAffected()
			return nil, err
		})
		if err != nil {
			return deleted, err // the batches before it stay deleted
		}
		if deleted += n; n < usagePruneBatch {
			_, err := db.pruneVerifications(ctx, before) // the same history, the same retention
			return deleted, err
		}
	}
}

// andWhere adds cond2 to cond, a WHERE clause as countsWhere builds it ("":
// none).
func andWhere(cond, cond2 string) string {
	if cond == "" {
		return `WHERE ` + cond2
	}
	return cond + ` AND ` + cond2
}

// column is a column a counts query filters on, and the value it must have
// ("": any).
type column struct{ name, value string }

// countsWhere checks the limit and time range of a query of counts (usage,
// verifications) and builds its WHERE clause: time from (inclusive) to
// (exclusive) in unix seconds of timeCol, and each filter that is set. It
// returns the limit to apply (the default for 0).
func countsWhere(timeCol string, from, to time.Time, limit int, filters ...column) (cond string, args []any, _ int, _ error) {
	switch {
	case limit < 0:
		return "", nil, 0, keygate.Errorf(keygate.EINVALID, "limit: must not be negative")
	case limit == 0:
		limit = defaultUsageLimit
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return "", nil, 0, keygate.Errorf(keygate.EINVALID, "to: must not be before from")
	}
	var where []string
	if !from.IsZero() {
		where, args = append(where, timeCol+` >= ?`), append(args, ceilUnix(from))
	}
	if !to.IsZero() {
		where, args = append(where, timeCol+` < ?`), append(args, ceilUnix(to))
	}
	for _, f := range filters {
		if f.value != "" {
			where, args = append(where, f.name+` = ?`), append(args, f.value)
		}
	}
	if len(where) > 0 {
		cond = `WHERE ` + strings.Join(where, ` AND `)
	}
	return cond, args, limit, nil
}
