package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// AddVerifications adds verification counts in one transaction, merged and
// written in bulk as AddUsage does. Like usage, counts are not audited and
// emit no Change.
func (db *DB) AddVerifications(ctx context.Context, counts []keygate.VerificationCount) error {
	if len(counts) == 0 {
		return nil
	}
	type key struct {
		hour                                   int64
		keyID, consumer, service, source, code string
	}
	index := make(map[key]int, len(counts))
	// The columns of addVerifications, one row a key.
	var hour, n []int64
	var keyID, consumer, service, source, code []string
	for i, c := range counts {
		switch {
		case c.Hour.IsZero():
			return keygate.Errorf(keygate.EINVALID, "counts[%d].hour: required", i)
		case c.Source != keygate.SourceGateway && c.Source != keygate.SourceVerify:
			return keygate.Errorf(keygate.EINVALID, "counts[%d].source: must be gateway or verify", i)
		case c.Code == "":
			return keygate.Errorf(keygate.EINVALID, "counts[%d].code: required", i)
		case c.Count < 0:
			return keygate.Errorf(keygate.EINVALID, "counts[%d].count: must not be negative", i)
		}
		k := key{c.Hour.UTC().Truncate(time.Hour).Unix(), c.KeyID, c.ConsumerID, c.ServiceID, string(c.Source), string(c.Code)}
		if row, ok := index[k]; ok {
			n[row] += c.Count
			continue
		}
		index[k] = len(hour)
		hour, keyID, consumer, service, source, code = append(hour, k.hour), append(keyID, k.keyID), append(consumer, k.consumer),
			append(service, k.service), append(source, k.source), append(code, k.code)
		n = append(n, c.Count)
	}
	// Run again after losing to another node's flush, it writes every row.
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if err := db.addVerifications.exec(ctx, tx, hour, keyID, consumer, service, source, code, n); err != nil {
			return nil, fmt.Errorf("store: add verifications: %w", err)
		}
		return nil, nil
	})
}

// addVerifications is the upsert of verification counts.
func addVerifications() *bulkWrite {
	return newBulkWrite(`INSERT INTO verification_counts (hour, key_id, consumer_id, service_id, source, code, n)`,
		[]string{"bigint", "text", "text", "text", "text", "text", "bigint"},
		`ON CONFLICT (hour, key_id, consumer_id, service_id, source, code) DO UPDATE SET
		n = verification_counts.n + excluded.n`)
}

// verificationColumns are the columns of the fields counts group by.
var verificationColumns = map[string]string{
	keygate.GroupByOutcome: "code", keygate.GroupByConsumer: "consumer_id", keygate.GroupByKey: "key_id",
	keygate.GroupByService: "service_id", keygate.GroupBySource: "source",
}

// Verifications sums the stored counts and the gateway's VALID
// verifications that usage rows carry (keygate.UsageRecord.GatewayValid),
// read as counts of their minute's hour.
func (db *DB) Verifications(ctx context.Context, q keygate.VerificationQuery) ([]keygate.VerificationRow, error) {
	var bucket string
	switch q.Interval {
	case keygate.ByHour, "":
		bucket = `hour`
	case keygate.ByDay:
		bucket = `hour - ((hour % 86400) + 86400) % 86400`
	default:
		return nil, keygate.Errorf(keygate.EINVALID, "interval: must be hour or day")
	}
	grouped := map[string]bool{}
	for _, g := range q.GroupBy {
		if _, ok := verificationColumns[g]; !ok {
			return nil, keygate.Errorf(keygate.EINVALID, "group_by: %q is not one of %s", g, strings.Join(keygate.VerificationGroups, ", "))
		}
		grouped[g] = true
	}
	cond, args, limit, err := countsWhere("hour", q.From, q.To, q.Limit,
		column{"key_id", q.KeyID}, column{"consumer_id", q.ConsumerID}, column{"service_id", q.ServiceID},
		column{"source", string(q.Source)}, column{"code", string(q.Code)})
	if err != nil {
		return nil, err
	}
	counts := `SELECT hour, key_id, consumer_id, service_id, source, code, n FROM verification_counts ` + cond
	if (q.Source == "" || q.Source == keygate.SourceGateway) && (q.Code == "" || q.Code == keygate.CodeValid) {
		// A minute's hour is in [from, to) exactly when the minute is in
		// [from, to), each rounded up to a whole hour.
		usageCond, usageArgs, _, _ := countsWhere("minute", ceilHour(q.From), ceilHour(q.To), q.Limit,
			column{"credential_id", q.KeyID}, column{"consumer_id", q.ConsumerID}, column{"service_id", q.ServiceID})
		counts += ` UNION ALL SELECT minute - ((minute % 3600) + 3600) % 3600, credential_id, consumer_id, service_id,
			'` + string(keygate.SourceGateway) + `', '` + string(keygate.CodeValid) + `', gateway_valid
			FROM usage ` + andWhere(usageCond, `gateway_valid > 0`)
		args = append(args, usageArgs...)
	}
	// The grouped columns in a fixed order; the others read as ''.
	cols := []string{"start"}
	sel := []string{bucket + ` AS start`}
	for _, g := range keygate.VerificationGroups {
		col := verificationColumns[g]
		if grouped[g] {
			cols = append(cols, col)
			sel = append(sel, col)
		} else {
			sel = append(sel, `''`)
		}
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+strings.Join(sel, `, `)+`, CAST(sum(n) AS BIGINT)
		FROM (`+counts+`) AS counts
		GROUP BY `+strings.Join(cols, `, `)+`
		ORDER BY `+strings.Join(cols, `, `)+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: verifications: %w", err))
	}
	defer rows.Close()
	out := []keygate.VerificationRow{}
	for rows.Next() {
		if len(out) == limit {
			return nil, keygate.Errorf(keygate.EINVALID,
				"verifications: more than %d rows match: narrow the time range, filter by key, consumer or service, group by fewer fields, or use interval day", limit)
		}
		var r keygate.VerificationRow
		var start int64
		var code, source string
		if err := rows.Scan(&start, &code, &r.ConsumerID, &r.KeyID, &r.ServiceID, &source, &r.Count); err != nil {
			return nil, storeError(fmt.Errorf("store: verifications: %w", err))
		}
		r.Start, r.Code, r.Source = time.Unix(start, 0).UTC(), keygate.VerifyCode(code), keygate.VerificationSource(source)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: verifications: %w", err))
	}
	return out, nil
}

// ceilHour is t rounded up to a whole hour; the zero time stays zero (no bound).
func ceilHour(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	if h := t.Truncate(time.Hour); h.Before(t) {
		return h.Add(time.Hour)
	}
	return t
}

// pruneVerifications deletes the verification counts of hours that start
// before before's hour, usagePruneBatch rows per transaction, as PruneUsage
// does for usage: the counts are usage history and share its retention.
func (db *DB) pruneVerifications(ctx context.Context, before time.Time) (int64, error) {
	cutoff := before.UTC().Truncate(time.Hour).Unix()
	var deleted int64
	for {
		if err := ctx.Err(); err != nil {
			return deleted, storeError(err)
		}
		var n int64
		err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
			res, err := tx.ExecContext(ctx, `DELETE FROM verification_counts WHERE (hour, key_id, consumer_id, service_id, source, code) IN
				(SELECT hour, key_id, consumer_id, service_id, source, code FROM verification_counts WHERE hour < ? LIMIT ?)`, cutoff, usagePruneBatch)
			if err != nil {
				return nil, fmt.Errorf("store: prune verifications: %w", err)
			}
			n, err = res.RowsAffected()
			return nil, err
		})
		if err != nil {
			return deleted, err
		}
		if deleted += n; n < usagePruneBatch {
			return deleted, nil
		}
	}
}
