package sqlite_test

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
	"github.com/keygate/keygate/storetest"
)

// TestStore: the behaviour every store shares (storetest), each test on a
// copy of one migrated database; the migrations have tests of their own.
func TestStore(t *testing.T) {
	storetest.Run(t, func(tb testing.TB, h storetest.Harness) keygate.Store {
		db, err := sqlite.Open(tb.Context(), sqlitetest.Path(tb), sqlite.Options{Now: h.Now, OnChange: h.OnChange})
		if err != nil {
			tb.Fatal(err)
		}
		return db
	})
}
