package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/storetest"
)

// BenchmarkWrites: audited writes by 1 and 8 writers at once (see
// docs/benchmarks.md, the audit chain's cost).
func BenchmarkWrites(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db := open(b, filepath.Join(b.TempDir(), "keygate.db"), Options{})
			defer db.Close()
			storetest.BenchmarkWrites(b, db, writers)
		})
	}
}
