package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"numbered", `SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1`, `SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1`},
		{"bare", `INSERT INTO t VALUES (?, ?, ?)`, `INSERT INTO t VALUES ($1, $2, $3)`},
		{"bare after numbered", `SELECT ?2, ?`, `SELECT $2, $3`},
		{"quoted", `SELECT '?', "a?b", 'it''s ?' FROM t WHERE x = ?`, `SELECT '?', "a?b", 'it''s ?' FROM t WHERE x = $1`},
		{"none", `SELECT 1`, `SELECT 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Dialect{DollarPlaceholders: true}
			for range 2 { // the second time from the cache
				if got := d.Rebind(tt.in); got != tt.want {
					t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
				}
			}
			if got := (&Dialect{}).Rebind(tt.in); got != tt.in {
				t.Errorf("without $N, Rebind(%q) = %q", tt.in, got)
			}
		})
	}
}
