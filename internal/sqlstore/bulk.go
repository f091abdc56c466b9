package sqlstore

import (
	"context"
	"strings"
)

// bulkWrite is an INSERT of many rows at once, given column by column
// (each column a []int64 or a []string, all of one length): the usage
// flush's upserts. Where the engine binds arrays (Dialect.ArrayRows,
// PostgreSQL) it is one statement of an array a column, however many rows;
// elsewhere (SQLite) statements of up to bulkChunk rows of placeholders.
// A gateway's flush is a thousand rows a transaction on PostgreSQL: as
// placeholders, twelve thousand values that database/sql and the driver
// converted and encoded one by one, 6.0–6.3 µs of keygate's CPU a row in
// BenchmarkUsageFlush against 3.7–3.9 with arrays (docs/benchmarks.md).
type bulkWrite struct {
	head  string   // INSERT INTO table (columns)
	types []string // the columns' SQL types, in order
	tail  string   // ON CONFLICT ...
	// stmt is prepared once on the writer: the arrays' statement, or that
	// of bulkChunk rows of placeholders (parsing its text anew for each
	// statement was a fifth of a flush's CPU on SQLite).
	stmt *Stmt
}

// bulkChunk is the most rows of placeholders one statement writes: twelve
// a row for the usage, far below either engine's limit on placeholders.
const bulkChunk = 128

func newBulkWrite(head string, types []string, tail string) *bulkWrite {
	return &bulkWrite{head: head, types: types, tail: tail}
}

// sql is the statement for rows rows (for arrays, any number).
func (w *bulkWrite) sql(d *Dialect, rows int) string {
	if d.ArrayRows != nil {
		return w.head + ` SELECT * FROM ` + d.ArrayRows(w.types...) + ` ` + w.tail
	}
	row := `(?` + strings.Repeat(`, ?`, len(w.types)-1) + `)`
	return w.head + ` VALUES ` + row + strings.Repeat(`, `+row, rows-1) + ` ` + w.tail
}

func (w *bulkWrite) prepare(ctx context.Context, p *pool) (err error) {
	w.stmt, err = p.prepare(ctx, w.sql(p.d, bulkChunk))
	return err
}

// exec writes the rows of columns within tx; it does not change them, so a
// transaction run again writes them all again.
func (w *bulkWrite) exec(ctx context.Context, tx *Tx, columns ...any) error {
	if tx.d.ArrayRows != nil {
		_, err := tx.Stmt(ctx, w.stmt).ExecContext(ctx, columns...)
		return err
	}
	n := columnLen(columns[0])
	args := make([]any, 0, min(n, bulkChunk)*len(columns))
	for start := 0; start < n; start += bulkChunk {
		end := min(n, start+bulkChunk)
		args = args[:0]
		for i := start; i < end; i++ {
			for _, c := range columns {
				args = append(args, columnValue(c, i))
			}
		}
		var err error
		if end-start == bulkChunk {
			_, err = tx.Stmt(ctx, w.stmt).ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, w.sql(tx.d, end-start), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func columnLen(c any) int {
	switch c := c.(type) {
	case []int64:
		return len(c)
	case []string:
		return len(c)
	}
	panic("sqlstore: a bulk write's column must be []int64 or []string")
}

func columnValue(c any, i int) any {
	switch c := c.(type) {
	case []int64:
		return c[i]
	case []string:
		return c[i]
	}
	panic("sqlstore: a bulk write's column must be []int64 or []string")
}
