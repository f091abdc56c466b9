package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/postgres/pgtest"
	"github.com/keygate/keygate/storetest"
)

func testURL(tb testing.TB) string { return pgtest.URL(tb) }

// testSchema returns a new schema name, dropped when the test ends.
func testSchema(tb testing.TB) string {
	_, schema := pgtest.Schema(tb, "keygate_test_")
	return schema
}

func open(tb testing.TB, schema string, opts Options) *DB {
	tb.Helper()
	opts.Schema = schema
	db, err := Open(context.Background(), testURL(tb), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestStore(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(tb testing.TB, h storetest.Harness) keygate.Store {
		// Registered before Run's Close, so the schema is dropped after it.
		schema := testSchema(tb)
		return open(tb, schema, Options{Now: h.Now, OnChange: h.OnChange})
	})
}

// TestMigrateConcurrently starts several stores on one new schema at once,
// as the nodes of a cluster do: each migration is applied once and every
// store opens.
func TestMigrateConcurrently(t *testing.T) {
	schema := testSchema(t)
	const nodes = 8
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	dbs := make(chan *DB, nodes)
	for range nodes {
		wg.Go(func() {
			db, err := Open(t.Context(), testURL(t), Options{Schema: schema})
			if err != nil {
				errs <- err
				return
			}
			dbs <- db
		})
	}
	wg.Wait()
	close(errs)
	close(dbs)
	for err := range errs {
		t.Error(err)
	}
	var db *DB
	for d := range dbs {
		db = d
		defer d.Close()
	}
	if db == nil {
		t.Fatal("no store opened")
	}
	ms, err := readMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var versions, distinct int
	if err := db.db.QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&versions, &distinct); err != nil {
		t.Fatal(err)
	}
	if versions != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations holds %d rows of %d versions, want %d once each", versions, distinct, len(ms))
	}
	// And a store works on it.
	c := &keygate.Consumer{Username: "alice"}
	if err := db.CreateConsumer(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaIsolation: two schemas on one database are two stores.
func TestSchemaIsolation(t *testing.T) {
	a := open(t, testSchema(t), Options{})
	defer a.Close()
	b := open(t, testSchema(t), Options{})
	defer b.Close()
	if err := a.CreateConsumer(t.Context(), &keygate.Consumer{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FindConsumer(t.Context(), "alice"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("FindConsumer in the other schema: %v, want ENOTFOUND", err)
	}
}

// TestNewerSchema: a keygate refuses a database migrated by a newer one.
func TestNewerSchema(t *testing.T) {
	schema := testSchema(t)
	db := open(t, schema, Options{})
	if _, err := db.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(t.Context(), testURL(t), Options{Schema: schema}); err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
}

// TestMigrationLandedLate: a migration numbered below the newest applied one
// (written in parallel, landed later) is applied all the same.
func TestMigrationLandedLate(t *testing.T) {
	schema := testSchema(t)
	db := open(t, schema, Options{})
	// As a schema migrated by a keygate that had 0016 but not yet 0015.
	if _, err := db.db.Exec(`DROP TABLE changes; DELETE FROM schema_migrations WHERE version = 15`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, schema, Options{})
	defer db.Close()
	if err := db.CreateService(t.Context(), &keygate.Service{Name: "s", URL: "http://s.internal"}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.LatestChange(t.Context()); err != nil || n != 1 {
		t.Errorf("LatestChange = %d, %v; want the change log back, with one change", n, err)
	}
}

// TestUnavailable: a server that cannot be reached is EUNAVAILABLE.
func TestUnavailable(t *testing.T) {
	db := open(t, testSchema(t), Options{})
	db.Close()
	if _, err := db.FindConsumer(t.Context(), "alice"); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Errorf("FindConsumer on a closed store: %v, want EUNAVAILABLE", err)
	}
	_, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", Options{})
	if keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Errorf("Open of a server that is not there: %v, want EUNAVAILABLE", err)
	}
}

func readMigrations() ([]string, error) {
	var names []string
	entries, err := migrations.ReadDir("migrations")
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

// BenchmarkUsageFlush: a flush of 1,000 keys' usage (see docs/benchmarks.md).
func BenchmarkUsageFlush(b *testing.B) {
	db := open(b, testSchema(b), Options{})
	defer db.Close()
	storetest.BenchmarkUsageFlush(b, db, 1000)
}
