package sqlitetest_test

import (
	"os"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// Each Path is a database of its own, migrated, with nothing in it yet.
func TestPathIsAFreshMigratedDatabase(t *testing.T) {
	a, b := sqlitetest.Path(t), sqlitetest.Path(t)
	if a == b {
		t.Fatalf("two databases at %s", a)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("Stat: %v %v, want mode 0600", fi, err)
	}
	db, err := sqlite.Open(t.Context(), a, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateConsumer(t.Context(), &keygate.Consumer{Username: "ada"}); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(t.Context(), b, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if cs, _, err := other.ListConsumers(t.Context(), keygate.Page{}); err != nil || len(cs) != 0 {
		t.Fatalf("the other database holds %v (%v), want nothing", cs, err)
	}
}
