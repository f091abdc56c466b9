package sqlstore

import (
	"strings"
	"testing"
)

// TestBulkWriteSQL: rows of placeholders where the engine binds no arrays,
// one array parameter a column where it does.
func TestBulkWriteSQL(t *testing.T) {
	w := newBulkWrite(`INSERT INTO t (a, b)`, []string{"bigint", "text"}, `ON CONFLICT (a) DO NOTHING`)
	arrays := &Dialect{ArrayRows: func(types ...string) string { return `arrays(` + strings.Join(types, `, `) + `)` }}
	tests := []struct {
		name string
		d    *Dialect
		rows int
		want string
	}{
		{"one row of placeholders", &Dialect{}, 1, `INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING`},
		{"three rows of placeholders", &Dialect{}, 3, `INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING`},
		{"arrays, whatever the rows", arrays, 1000, `INSERT INTO t (a, b) SELECT * FROM arrays(bigint, text) ON CONFLICT (a) DO NOTHING`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.sql(tt.d, tt.rows); got != tt.want {
				t.Errorf("sql(%d rows) =\n%s\nwant\n%s", tt.rows, got, tt.want)
			}
		})
	}
}
