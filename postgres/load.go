package postgres

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// LoadedTable is what Load did with one table.
type LoadedTable struct {
	Name string
	// Source is the table's row count the export's header gives (the
	// source's own count); Read the rows the export held; Loaded the rows
	// the table holds after the load, counted in the load's transaction.
	Source, Read, Loaded int
	// SourceDigest is the digest of the rows read, converted to the
	// table's column types; LoadedDigest that of the rows the table holds.
	// See Digest.
	SourceDigest, LoadedDigest string
}

// Match says whether the table arrived whole: every count and both digests equal.
func (t LoadedTable) Match() bool {
	return t.Source == t.Read && t.Read == t.Loaded && t.SourceDigest == t.LoadedDigest
}

// loadBatch is how many rows go to the server in one COPY.
const loadBatch = 1000

// Load copies an export (keygate.Exporter's format: `keygate migrate
// sqlite-to-postgres` pipes SQLite's into it) into the store at url, which
// must hold no rows yet. The schema is brought up to date first, as Open
// does, and must then be at the export's version, with the same tables and
// columns.
//
// The rows go in in one transaction, which holds every table locked against
// writers from the emptiness check to the commit. Before committing, Load
// counts and reads back every table in that transaction and compares it
// with what the export held (counts and a digest of the rows); on any
// difference it rolls back, so the store is either loaded whole or left as
// it was. The tables are returned, in the export's order, whenever they
// were checked, with an error or not.
//
// Values are copied as they are: key hashes, wrapped data keys and sealed
// secrets stay valid under the same root key. SQLite's 0/1 flags become
// BOOLEANs.
func Load(ctx context.Context, url string, opts Options, r io.Reader, progress func(done, total int)) ([]LoadedTable, error) {
	db, err := Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, storeError(fmt.Errorf("postgres: connect: %w", err))
	}
	defer conn.Close()
	var tables []LoadedTable
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres: load: unexpected driver connection %T", dc)
		}
		tables, err = load(ctx, pc.Conn(), r, progress)
		return err
	})
	return tables, err
}

// column is a column of a table in PostgreSQL.
type column struct {
	name, typ string // typ: information_schema's data_type
}

func load(ctx context.Context, conn *pgx.Conn, r io.Reader, progress func(done, total int)) (tables []LoadedTable, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	var head keygate.ExportHeader
	if err := dec.Decode(&head); err != nil {
		return nil, keygate.Errorf(keygate.EINVALID, "export: not a keygate export: %v", err)
	}
	if head.Format != keygate.ExportFormat {
		return nil, keygate.Errorf(keygate.EINVALID, "export: format %d, this keygate reads %d", head.Format, keygate.ExportFormat)
	}
	if len(head.Tables) == 0 {
		return nil, keygate.Errorf(keygate.EINVALID, "export: no table list in its header (written by an older keygate)")
	}

	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, storeError(fmt.Errorf("postgres: load: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	var version int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return nil, storeError(fmt.Errorf("postgres: load: %w", err))
	}
	if version != head.SchemaVersion {
		return nil, keygate.Errorf(keygate.EINVALID, "schema versions differ: the source is at %d, PostgreSQL at %d", head.SchemaVersion, version)
	}
	schema, err := tableColumns(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := sameTables(head.Tables, schema); err != nil {
		return nil, err
	}
	// Writers wait from here to the commit, so that the store is still
	// empty when the rows arrive (a node starting on it would otherwise
	// add its keyring meanwhile); readers do not.
	names := make([]string, len(head.Tables))
	for i, t := range head.Tables {
		names[i] = pgx.Identifier{t.Name}.Sanitize()
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
		return nil, storeError(fmt.Errorf("postgres: load: %w", err))
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return nil, storeError(fmt.Errorf("postgres: load: lock the tables (is keygate running on this schema?): %w", err))
	}
	if err := checkEmpty(ctx, tx, head.Tables); err != nil {
		return nil, err
	}

	tables = make([]LoadedTable, len(head.Tables))
	index := map[string]int{}
	for i, t := range head.Tables {
		tables[i] = LoadedTable{Name: t.Name, Source: t.Rows}
		index[t.Name] = i
	}
	sums := make([]digest, len(tables))
	done := 0
	var batch [][]any
	batchTable := -1
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		t := tables[batchTable]
		cols := make([]string, len(schema[t.Name]))
		for i, c := range schema[t.Name] {
			cols[i] = c.name
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.Name}, cols, pgx.CopyFromRows(batch)); err != nil {
			return keygate.Errorf(keygate.EINVALID, "postgres: load %s: %v", t.Name, err)
		}
		done += len(batch)
		batch = batch[:0]
		if progress != nil {
			progress(done, head.Rows)
		}
		return nil
	}
	for n := 0; ; n++ {
		var row keygate.ExportRow
		if err := dec.Decode(&row); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, keygate.Errorf(keygate.EINVALID, "export: ends after %d of %d rows, without its end marker", n, head.Rows)
			}
			return nil, fmt.Errorf("export: row %d: %w", n+1, err)
		}
		if row.End {
			break
		}
		i, ok := index[row.Table]
		if !ok {
			return nil, keygate.Errorf(keygate.EINVALID, "export: row %d: table %q is not in its header", n+1, row.Table)
		}
		if i != batchTable {
			if i < batchTable {
				return nil, keygate.Errorf(keygate.EINVALID, "export: row %d: table %s after %s, not in its header's order", n+1, row.Table, tables[batchTable].Name)
			}
			if err := flush(); err != nil {
				return nil, err
			}
			batchTable = i
		}
		values, err := rowValues(schema[row.Table], row)
		if err != nil {
			return nil, keygate.Errorf(keygate.EINVALID, "export: row %d: %v", n+1, err)
		}
		sums[i].add(schema[row.Table], values)
		tables[i].Read++
		batch = append(batch, values)
		if len(batch) == loadBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	// Only white space may follow the end marker.
	rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), br))
	if err != nil {
		return nil, fmt.Errorf("export: after the end marker: %w", err)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, keygate.Errorf(keygate.EINVALID, "export: data after the end marker")
	}

	// Read everything back, in this transaction, and compare.
	var bad []string
	for i := range tables {
		t := &tables[i]
		t.SourceDigest = sums[i].String()
		if t.Loaded, t.LoadedDigest, err = tableDigest(ctx, tx, t.Name, schema[t.Name]); err != nil {
			return nil, err
		}
		if !t.Match() {
			bad = append(bad, t.Name)
		}
	}
	if len(bad) > 0 {
		return tables, keygate.Errorf(keygate.EINTERNAL, "verification failed for %s: rolled back, PostgreSQL is left as it was", strings.Join(bad, ", "))
	}
	if err := tx.Commit(ctx); err != nil {
		return tables, storeError(fmt.Errorf("postgres: load: commit: %w", err))
	}
	return tables, nil
}

// tableColumns reads the tables of the current schema (but
// schema_migrations) and their columns, in their order.
func tableColumns(ctx context.Context, tx pgx.Tx) (map[string][]column, error) {
	rows, err := tx.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_migrations'
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, storeError(fmt.Errorf("postgres: load: %w", err))
	}
	defer rows.Close()
	schema := map[string][]column{}
	for rows.Next() {
		var table string
		var c column
		if err := rows.Scan(&table, &c.name, &c.typ); err != nil {
			return nil, storeError(fmt.Errorf("postgres: load: %w", err))
		}
		schema[table] = append(schema[table], c)
	}
	return schema, storeError(rows.Err())
}

// sameTables checks that the export's tables are the schema's, but those an
// export leaves out (sqlstore.NotExported).
func sameTables(export []keygate.ExportTable, schema map[string][]column) error {
	var onlyExport, onlyHere []string
	in := map[string]bool{}
	for _, t := range export {
		in[t.Name] = true
		if _, ok := schema[t.Name]; !ok {
			onlyExport = append(onlyExport, t.Name)
		}
	}
	for name := range schema {
		if !in[name] && !slices.Contains(sqlstore.NotExported, name) {
			onlyHere = append(onlyHere, name)
		}
	}
	sort.Strings(onlyHere)
	switch {
	case len(onlyExport) > 0:
		return keygate.Errorf(keygate.EINVALID, "the source has table(s) PostgreSQL's schema lacks: %s", strings.Join(onlyExport, ", "))
	case len(onlyHere) > 0:
		return keygate.Errorf(keygate.EINVALID, "PostgreSQL's schema has table(s) the source lacks: %s", strings.Join(onlyHere, ", "))
	}
	return nil
}

// checkEmpty refuses a store that holds any row.
func checkEmpty(ctx context.Context, tx pgx.Tx, tables []keygate.ExportTable) error {
	var full []string
	for _, t := range tables {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.Name}.Sanitize()).Scan(&n); err != nil {
			return storeError(fmt.Errorf("postgres: load: %w", err))
		}
		if n > 0 {
			full = append(full, fmt.Sprintf("%s (%d rows)", t.Name, n))
		}
	}
	if len(full) > 0 {
		return keygate.Errorf(keygate.ECONFLICT, "the PostgreSQL store is not empty: %s; load only into a new schema (--store-schema) or an empty one, that no keygate has run on",
			strings.Join(full, ", "))
	}
	return nil
}

// rowValues turns an export row into the values of the table's columns, in
// their order. The row must have exactly the table's columns.
func rowValues(cols []column, row keygate.ExportRow) ([]any, error) {
	if len(row.Values) != len(cols) {
		for name := range row.Values {
			if !slices.ContainsFunc(cols, func(c column) bool { return c.name == name }) {
				return nil, fmt.Errorf("PostgreSQL's table %s has no column %s", row.Table, name)
			}
		}
	}
	values := make([]any, len(cols))
	for i, c := range cols {
		v, ok := row.Values[c.name]
		if !ok {
			return nil, fmt.Errorf("the source's table %s has no column %s", row.Table, c.name)
		}
		var err error
		if values[i], err = columnValue(c.typ, v); err != nil {
			return nil, fmt.Errorf("%s.%s: %v", row.Table, c.name, err)
		}
	}
	return values, nil
}

// columnValue turns an export's JSON value into the value of a column of
// type typ (information_schema's data_type).
func columnValue(typ string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "bigint", "integer", "smallint":
		if n, ok := v.(json.Number); ok {
			return n.Int64()
		}
	case "double precision":
		if n, ok := v.(json.Number); ok {
			return n.Float64()
		}
	case "boolean":
		switch v := v.(type) {
		case bool:
			return v, nil
		case json.Number: // SQLite's flags
			switch v {
			case "0":
				return false, nil
			case "1":
				return true, nil
			}
			return nil, fmt.Errorf("%s is not a flag (0 or 1)", v)
		}
	case "text":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return base64.StdEncoding.DecodeString(s)
		}
	default:
		return nil, fmt.Errorf("a column of type %s, which this keygate cannot load", typ)
	}
	return nil, fmt.Errorf("%T in a %s column", v, typ)
}

// digest is an order-independent digest of a table's rows: the sum, lane
// by lane, of the SHA-256 of each row. With the row count it tells whether
// two tables hold the same rows, whatever order they are read in.
type digest [4]uint64

func (d *digest) add(cols []column, values []any) {
	h := sha256.New()
	var buf [8]byte
	for i, c := range cols {
		io.WriteString(h, c.name)
		h.Write([]byte{0})
		switch v := values[i].(type) {
		case nil:
			h.Write([]byte{0})
		case int64:
			h.Write([]byte{1})
			h.Write(binary.BigEndian.AppendUint64(buf[:0], uint64(v)))
		case float64:
			h.Write([]byte{2})
			h.Write(binary.BigEndian.AppendUint64(buf[:0], math.Float64bits(v)))
		case bool:
			h.Write([]byte{3})
			if v {
				h.Write([]byte{1})
			} else {
				h.Write([]byte{0})
			}
		case string:
			h.Write([]byte{4})
			h.Write(binary.BigEndian.AppendUint64(buf[:0], uint64(len(v))))
			io.WriteString(h, v)
		case []byte:
			h.Write([]byte{5})
			h.Write(binary.BigEndian.AppendUint64(buf[:0], uint64(len(v))))
			h.Write(v)
		default: // a type columnValue never makes: never equal to a source's
			fmt.Fprintf(h, "\xff%T:%v", v, v)
		}
	}
	sum := h.Sum(nil)
	for i := range d {
		d[i] += binary.BigEndian.Uint64(sum[8*i:])
	}
}

func (d digest) String() string {
	b := make([]byte, 0, 32)
	for _, x := range d {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return hex.EncodeToString(b)
}

// tableDigest counts and digests the rows table holds.
func tableDigest(ctx context.Context, tx pgx.Tx, table string, cols []column) (int, string, error) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = pgx.Identifier{c.name}.Sanitize()
	}
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+pgx.Identifier{table}.Sanitize())
	if err != nil {
		return 0, "", storeError(fmt.Errorf("postgres: verify %s: %w", table, err))
	}
	defer rows.Close()
	var d digest
	n := 0
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return 0, "", storeError(fmt.Errorf("postgres: verify %s: %w", table, err))
		}
		for i, v := range values {
			if i32, ok := v.(int32); ok { // an integer column narrower than BIGINT
				values[i] = int64(i32)
			} else if i16, ok := v.(int16); ok {
				values[i] = int64(i16)
			}
		}
		d.add(cols, values)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, "", storeError(fmt.Errorf("postgres: verify %s: %w", table, err))
	}
	return n, d.String(), nil
}
