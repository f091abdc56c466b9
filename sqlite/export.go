package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

var _ keygate.Exporter = (*DB)(nil)

// exportTables are the tables a backup carries, parents before children so
// that a restore satisfies foreign keys as it goes (hmac_credentials needs
// consumers; like secrets, it comes after the data keys of its ciphertexts;
// webhook_deliveries need webhooks and webhook_events; access_requests
// need consumers and come after the data keys of their sealed keys, as
// rotation_pickups do, which also need api_keys; consumers and api_keys
// need plans, and plan_routes need plans and routes; payload_sessions need
// consumers and the data keys of their keys). Usage counts have no
// foreign keys; they are billing history, so a backup carries them too, as
// it carries the revoked access tokens (a restore keeps refusing them).
// A test checks that every table of the schema is listed.
var exportTables = []string{"services", "routes", "plans", "plan_routes", "permissions", "roles", "consumers", "api_keys", "admin_tokens", "keyring",
	"data_keys", "secrets", "hmac_credentials", "oauth_clients", "payload_sessions", "webhooks", "webhook_events", "webhook_deliveries", "audit_events",
	"access_requests", "access_rules", "rotation_pickups", "usage", "verification_counts", "revoked_access_tokens"}

// notExported are the tables a backup leaves out (the leases).
var notExported = sqlstore.NotExported

// Export writes the whole store in keygate's export format (see
// keygate.Exporter) from one read transaction: in WAL mode that is a
// consistent snapshot, taken while writes go on.
func (db *DB) Export(ctx context.Context, w io.Writer, progress func(done, total int)) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storeError(fmt.Errorf("sqlite: export: %w", err))
	}
	defer tx.Rollback()
	var head keygate.ExportHeader
	head.Format = keygate.ExportFormat
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&head.SchemaVersion); err != nil {
		return storeError(fmt.Errorf("sqlite: export: %w", err))
	}
	// The tables come from a list, in an order that restores satisfy
	// foreign keys in, but the schema says which tables there are: one it
	// has and the list lacks would be silently left out.
	if err := checkExportTables(ctx, tx); err != nil {
		return err
	}
	for _, table := range exportTables {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return storeError(fmt.Errorf("sqlite: export %s: %w", table, err))
		}
		head.Rows += n
		head.Tables = append(head.Tables, keygate.ExportTable{Name: table, Rows: n})
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(head); err != nil {
		return err
	}
	done := 0
	for _, table := range exportTables {
		if err := exportTable(ctx, tx, enc, table, func() {
			done++
			if progress != nil {
				progress(done, head.Rows)
			}
		}); err != nil {
			return err
		}
	}
	if done != head.Rows {
		return fmt.Errorf("sqlite: export: counted %d rows, read %d", head.Rows, done)
	}
	if err := enc.Encode(keygate.ExportRow{End: true}); err != nil {
		return err
	}
	return bw.Flush()
}

// checkExportTables checks that exportTables are the schema's tables, but
// those left out on purpose (notExported).
func checkExportTables(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'`)
	if err != nil {
		return storeError(fmt.Errorf("sqlite: export: %w", err))
	}
	defer rows.Close()
	var missing []string
	seen := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return storeError(fmt.Errorf("sqlite: export: %w", err))
		}
		seen[name] = true
		if !slices.Contains(exportTables, name) && !slices.Contains(notExported, name) {
			missing = append(missing, name)
		}
	}
	if err := rows.Err(); err != nil {
		return storeError(fmt.Errorf("sqlite: export: %w", err))
	}
	for _, table := range exportTables {
		if !seen[table] {
			return fmt.Errorf("sqlite: export: the database has no table %s: is it a keygate database?", table)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sqlite: export: this keygate does not know the database's table(s) %s: export it with the keygate that made them", strings.Join(missing, ", "))
	}
	return nil
}

func exportTable(ctx context.Context, tx *sql.Tx, enc *json.Encoder, table string, row func()) error {
	rows, err := tx.QueryContext(ctx, `SELECT * FROM `+table+` ORDER BY rowid`)
	if err != nil {
		return storeError(fmt.Errorf("sqlite: export %s: %w", table, err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	values, ptrs := make([]any, len(cols)), make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("sqlite: export %s: %w", table, err)
		}
		out := keygate.ExportRow{Table: table, Values: make(map[string]any, len(cols))}
		for i, c := range cols {
			out.Values[c] = values[i] // []byte becomes base64, as the format says
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
		row()
	}
	if err := rows.Err(); err != nil {
		return storeError(fmt.Errorf("sqlite: export %s: %w", table, err))
	}
	return nil
}

// Restore creates the database at path from an export read from r. The file
// must not exist yet. Everything is loaded in one transaction, with the
// schema at the export's version, then migrated to this keygate's; on any
// failure the new file is removed, so nothing half-restored is left.
func Restore(ctx context.Context, path string, r io.Reader, opts Options, progress func(done, total int)) (err error) {
	// Claim the path at once (O_EXCL): two restores into one data dir
	// cannot both go ahead.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return keygate.Errorf(keygate.ECONFLICT, "%s already exists: restore only into a new data dir", path)
	} else if err != nil {
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil { // nothing half-restored stays
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
		}
	}()
	br := bufio.NewReaderSize(r, 64<<10)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	var head keygate.ExportHeader
	if err = dec.Decode(&head); err != nil {
		return keygate.Errorf(keygate.EINVALID, "export: not a keygate export: %v", err)
	}
	ms, err := readMigrations(migrations)
	if err != nil {
		return err
	}
	switch latest := ms[len(ms)-1].Version; {
	case head.Format != keygate.ExportFormat:
		return keygate.Errorf(keygate.EINVALID, "export: format %d, this keygate reads %d", head.Format, keygate.ExportFormat)
	case head.SchemaVersion < 1:
		return keygate.Errorf(keygate.EINVALID, "export: no schema version")
	case head.SchemaVersion > latest:
		return keygate.Errorf(keygate.EINVALID, "export: schema version %d is newer than this keygate's (%d): restore with a newer keygate", head.SchemaVersion, latest)
	}

	db, err := openAt(ctx, path, opts, head.SchemaVersion)
	if err != nil {
		return err
	}
	err = db.load(ctx, func(tx *sql.Tx) error { return importRows(ctx, tx, dec, br, head.Rows, progress) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	db, err = Open(ctx, path, opts) // the migrations that came after the export
	if err != nil {
		return err
	}
	return db.Close()
}

// load runs fn in one write transaction, which it commits when fn succeeds.
func (db *DB) load(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return storeError(fmt.Errorf("sqlite: begin: %w", err))
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return storeError(err)
	}
	return storeError(tx.Commit())
}

// importRows loads the rows dec reads from br, which it reads to the end.
func importRows(ctx context.Context, tx *sql.Tx, dec *json.Decoder, br io.Reader, total int, progress func(done, total int)) error {
	schema := map[string]map[string]string{} // table → column → declared type
	for _, table := range exportTables {
		cols, err := columnTypes(ctx, tx, table)
		if err != nil {
			return err
		}
		schema[table] = cols
	}
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	for done := 0; ; {
		var row keygate.ExportRow
		if err := dec.Decode(&row); err != nil {
			if errors.Is(err, io.EOF) {
				return keygate.Errorf(keygate.EINVALID, "export: ends after %d of %d rows, without its end marker", done, total)
			}
			return fmt.Errorf("export: row %d: %w", done+1, err)
		}
		if row.End {
			if done != total {
				return keygate.Errorf(keygate.EINVALID, "export: holds %d rows, its header says %d", done, total)
			}
			// Read to the end, so that the source (a sealed backup) checks
			// everything it holds; only white space may follow the marker.
			rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), br))
			if err != nil {
				return fmt.Errorf("export: after the end marker: %w", err)
			}
			if len(bytes.TrimSpace(rest)) > 0 {
				return keygate.Errorf(keygate.EINVALID, "export: data after the end marker")
			}
			return nil
		}
		types, ok := schema[row.Table]
		if !ok {
			return keygate.Errorf(keygate.EINVALID, "export: row %d: unknown table %q", done+1, row.Table)
		}
		cols := make([]string, 0, len(row.Values))
		for c := range row.Values {
			if _, ok := types[c]; !ok {
				return keygate.Errorf(keygate.EINVALID, "export: row %d: table %s has no column %q", done+1, row.Table, c)
			}
			cols = append(cols, c)
		}
		args := make([]any, len(cols))
		for i, c := range cols {
			v, err := columnValue(types[c], row.Values[c])
			if err != nil {
				return keygate.Errorf(keygate.EINVALID, "export: row %d: %s.%s: %v", done+1, row.Table, c, err)
			}
			args[i] = v
		}
		query := `INSERT INTO ` + row.Table + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
		stmt, ok := stmts[query]
		if !ok {
			var err error
			if stmt, err = tx.PrepareContext(ctx, query); err != nil {
				return fmt.Errorf("sqlite: restore %s: %w", row.Table, err)
			}
			stmts[query] = stmt
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return keygate.Errorf(keygate.EINVALID, "export: row %d (%s): %v", done+1, row.Table, err)
		}
		done++
		if progress != nil {
			progress(done, total)
		}
	}
}

func columnTypes(ctx context.Context, tx *sql.Tx, table string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, upper(type) FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("sqlite: restore: %w", err)
	}
	defer rows.Close()
	cols := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		cols[name] = typ
	}
	return cols, rows.Err()
}

// columnValue turns a JSON value back into what the column holds.
func columnValue(typ string, v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		switch typ {
		case "INTEGER":
			return v.Int64()
		case "REAL": // a plan's rate: Go writes a float64 in the fewest digits that read back the same
			return v.Float64()
		}
		return nil, fmt.Errorf("a number in a %s column", typ)
	case string:
		switch typ {
		case "BLOB":
			return base64.StdEncoding.DecodeString(v)
		case "TEXT":
			return v, nil
		}
		return nil, fmt.Errorf("a string in a %s column", typ)
	}
	return nil, fmt.Errorf("unexpected %T", v)
}
