package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/cpubench"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/storetest"
)

// openWithSQLReads opens a store in a new schema, and beside it the same
// database as a store that reads keys through database/sql instead of the
// key reader, to compare the two; both are closed when tb ends.
func openWithSQLReads(tb testing.TB) (db *DB, viaSQL *sqlstore.DB) {
	tb.Helper()
	db = open(tb, testSchema(tb), Options{})
	tb.Cleanup(func() { db.Close() })
	return db, storetest.WithSQLReads(tb, db.DB)
}

// TestKeyReader: LookupKeys through pgx gives what database/sql's read
// gives, for keys and consumers with every column set or left empty, and
// leaves out identifiers not stored.
func TestKeyReader(t *testing.T) {
	db, viaSQL := openWithSQLReads(t)
	ctx := t.Context()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(db.CreatePermission(ctx, &keygate.Permission{Name: "read"}))
	check(db.CreateRole(ctx, &keygate.Role{Name: "reader", Permissions: []string{"read"}}))
	disabled := false
	full := &keygate.Consumer{Username: "alice", CustomID: "ext-1", Groups: []string{"partners", "beta"}, Tags: []string{"t"},
		RotationPolicy: &keygate.RotationPolicy{Every: 86400, Overlap: 3600, Notice: 600, Auto: true},
		Permissions:    []string{"read"}, Roles: []string{"reader"}, Enabled: &disabled, Meta: json.RawMessage(`{"tier":"gold"}`)}
	bare := &keygate.Consumer{Username: "bob"}
	check(db.CreateConsumer(ctx, full))
	check(db.CreateConsumer(ctx, bare))
	expires := time.Now().Add(time.Hour)
	keys := []*keygate.APIKey{{
		Consumer: keygate.Ref{ID: full.ID}, Identifier: "identfull", Prefix: "kg_live", Start: "abcd",
		SecretHash: []byte("0123456789abcdef0123456789abcdef"), Name: "full", AllowedServices: []string{"s1"},
		AllowedRoutes: []string{"r1", "r2"}, AllowedCIDRs: []string{"10.0.0.0/8"}, Tags: []string{"x"}, ExpiresAt: &expires,
		Permissions: []string{"read"}, Roles: []string{"reader"}, Enabled: &disabled, Meta: json.RawMessage(`{"n":1}`),
		Credits: &keygate.Credits{Remaining: 7, Refill: &keygate.CreditRefill{Interval: "daily", Amount: 10}},
	}, {
		Consumer: keygate.Ref{ID: bare.ID}, Identifier: "identbare", Prefix: "kg_test", Start: "efgh", SecretHash: make([]byte, 32),
	}}
	for _, k := range keys {
		check(db.CreateKey(ctx, k))
	}
	_, err := db.RevokeKey(ctx, keys[0].ID) // revoked_at set too
	check(err)

	identifiers := []string{"identfull", "nosuchident", "identbare"}
	got, err := db.LookupKeys(ctx, identifiers)
	check(err)
	want, err := viaSQL.LookupKeys(ctx, identifiers)
	check(err)
	if len(got) != 2 {
		t.Fatalf("key reader read %d keys, want 2", len(got))
	}
	if !reflect.DeepEqual(got, want) {
		for i := range got {
			t.Errorf("key reader: %+v %+v", got[i].Key, got[i].Consumer)
		}
		for i := range want {
			t.Errorf("database/sql: %+v %+v", want[i].Key, want[i].Consumer)
		}
	}
	k, c := got[0].Key, got[0].Consumer
	if k.Identifier != "identfull" || k.RevokedAt == nil || k.Credits == nil || k.RolePermissions["reader"] == nil ||
		c.RotationPolicy == nil || len(c.Groups) != 2 {
		t.Errorf("key reader lost columns: %+v %+v", k, c)
	}
	if got, err := db.LookupKeys(ctx, []string{"nosuchident"}); err != nil || len(got) != 0 {
		t.Errorf("only unknown identifiers: %d keys, %v; want none", len(got), err)
	}
}

// BenchmarkLookupKeys: keygate's CPU per key of a gateway's batch of misses
// (keyauth.Batch), read through pgx and through database/sql. The server's
// CPU is not in it.
func BenchmarkLookupKeys(b *testing.B) {
	db, viaSQL := openWithSQLReads(b)
	ctx := context.Background()
	identifiers := storetest.LookupKeysFixture(b, db)
	for _, batch := range []int{1, 16} {
		for _, bb := range []struct {
			name  string
			store *sqlstore.DB
		}{{"read=pgx", db.DB}, {"read=database-sql", viaSQL}} {
			b.Run(fmt.Sprintf("%s/batch=%d", bb.name, batch), func(b *testing.B) {
				b.ReportAllocs()
				cpu0 := cpubench.Process()
				i := 0
				for b.Loop() {
					ids := identifiers[i%(len(identifiers)-batch):][:batch]
					if kcs, err := bb.store.LookupKeys(ctx, ids); err != nil || len(kcs) != batch {
						b.Fatal(len(kcs), err)
					}
					i += batch
				}
				b.ReportMetric(float64((cpubench.Process()-cpu0).Nanoseconds())/float64(b.N*batch), "cpu-ns/key")
			})
		}
	}
}
