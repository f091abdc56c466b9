package storetest

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/sqlstore"
)

// WithSQLReads is db.WithSQLReads, closed when tb ends (before db, which
// tb's cleanups registered earlier close later).
func WithSQLReads(tb testing.TB, db *sqlstore.DB) *sqlstore.DB {
	tb.Helper()
	viaSQL, err := db.WithSQLReads(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { viaSQL.Close() })
	return viaSQL
}
