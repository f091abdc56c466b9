package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// exportOf writes an export of the given rows (JSON objects, one per line,
// table first) with the given header tables, at version.
func exportOf(version int, tables string, rows ...string) string {
	n := len(rows)
	var b strings.Builder
	fmt.Fprintf(&b, `{"keygate_export":1,"schema_version":%d,"rows":%d,"tables":[%s]}`+"\n", version, n, tables)
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	b.WriteString(`{"end":true}` + "\n")
	return b.String()
}

// allTables is a header's table list for every table of the schema, with
// the given counts (others 0).
func allTables(t *testing.T, db *DB, counts map[string]int) string {
	t.Helper()
	rows, err := db.db.Query(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var list []string
	// The parents first: services before routes, consumers before keys.
	order := []string{"services", "routes", "plans", "plan_routes", "consumers", "api_keys"}
	var names []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		names = append(names, name)
	}
	for _, name := range names {
		if !contains(order, name) {
			order = append(order, name)
		}
	}
	for _, name := range order {
		list = append(list, fmt.Sprintf(`{"name":%q,"rows":%d}`, name, counts[name]))
	}
	return strings.Join(list, ",")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func schemaVersion(t *testing.T, db *DB) int {
	t.Helper()
	var v int
	if err := db.db.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func rowCount(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const (
	serviceRow = `{"table":"services","values":{"id":"s1","name":"orders","url":"http://x","connect_timeout":1,"read_timeout":2,"write_timeout":3,"tags":"[]","created_at":1,"updated_at":1,"targets":"[]","retries":5,"healthcheck":null,"openapi":""}}`
	routeRow   = `{"table":"routes","values":{"id":"r1","name":"r","service_id":"s1","hosts":"[]","paths":"[\"/r\"]","methods":"[]","strip_path":1,"preserve_host":0,"key_auth":null,"acl":null,"hmac_auth":null,"tags":"[]","created_at":1,"updated_at":1,"oauth2":null,"payload_encryption":"off","permissions":null}}`
)

func TestLoad(t *testing.T) {
	schema := testSchema(t)
	db := open(t, schema, Options{})
	defer db.Close()
	version := schemaVersion(t, db)
	ctx := context.Background()
	load := func(export string) ([]LoadedTable, error) {
		return Load(ctx, testURL(t), Options{Schema: schema}, strings.NewReader(export), nil)
	}

	t.Run("refused, leaving nothing", func(t *testing.T) {
		tests := []struct{ name, export, want string }{
			{"not an export", "hello\n", "not a keygate export"},
			{"no table list", `{"keygate_export":1,"schema_version":1,"rows":0}` + "\n" + `{"end":true}` + "\n", "no table list"},
			{"another version", exportOf(version-1, allTables(t, db, nil)), "schema versions differ"},
			{"a table PostgreSQL lacks", exportOf(version, allTables(t, db, nil)+`,{"name":"extra","rows":0}`), "lacks: extra"},
			{"a table the source lacks", exportOf(version, `{"name":"services","rows":0}`), "the source lacks: "},
			{"a column PostgreSQL lacks", exportOf(version, allTables(t, db, map[string]int{"services": 1}),
				strings.Replace(serviceRow, `"tags"`, `"colour":"red","tags"`, 1)), "has no column colour"},
			{"a column the source lacks", exportOf(version, allTables(t, db, map[string]int{"services": 1}),
				strings.Replace(serviceRow, `"tags":"[]",`, ``, 1)), "the source's table services has no column tags"},
			{"not a flag", exportOf(version, allTables(t, db, map[string]int{"services": 1, "routes": 1}),
				serviceRow, strings.Replace(routeRow, `"strip_path":1`, `"strip_path":2`, 1)), "not a flag"},
			{"truncated", strings.TrimSuffix(exportOf(version, allTables(t, db, map[string]int{"services": 1}), serviceRow), `{"end":true}`+"\n"),
				"without its end marker"},
			{"a foreign key broken", exportOf(version, allTables(t, db, map[string]int{"routes": 1}), routeRow), "routes"},
			// The header counted two services; the export holds one: the
			// verification refuses it and rolls back.
			{"a count differs", exportOf(version, allTables(t, db, map[string]int{"services": 2}), serviceRow), "verification failed for services"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := load(tt.export)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Load: %v, want an error with %q", err, tt.want)
				}
				if n := rowCount(t, db, "services"); n != 0 {
					t.Errorf("services holds %d rows after a refused load", n)
				}
			})
		}
	})

	t.Run("loads and verifies", func(t *testing.T) {
		tables, err := load(exportOf(version, allTables(t, db, map[string]int{"services": 1, "routes": 1}), serviceRow, routeRow))
		if err != nil {
			t.Fatal(err)
		}
		for _, lt := range tables {
			if !lt.Match() {
				t.Errorf("%+v", lt)
			}
			if lt.Name == "routes" && (lt.Loaded != 1 || lt.SourceDigest == (digest{}).String()) {
				t.Errorf("routes: %+v", lt)
			}
		}
		r, err := db.FindRoute(ctx, "r")
		if err != nil || !r.StripPath || r.PreserveHost || r.Paths[0] != "/r" {
			t.Errorf("loaded route %+v, %v", r, err)
		}
	})

	t.Run("a store with rows is refused", func(t *testing.T) {
		_, err := load(exportOf(version, allTables(t, db, nil)))
		if keygate.ErrorCode(err) != keygate.ECONFLICT || !strings.Contains(err.Error(), "not empty: services (1 rows)") {
			t.Errorf("Load into a store with rows: %v, want ECONFLICT naming services", err)
		}
	})
}

// TestDigest: the digest does not depend on the order of the rows, and
// does on their values and types.
func TestDigest(t *testing.T) {
	cols := []column{{"a", "bigint"}, {"b", "text"}}
	var x, y digest
	x.add(cols, []any{int64(1), "p"})
	x.add(cols, []any{int64(2), "q"})
	y.add(cols, []any{int64(2), "q"})
	y.add(cols, []any{int64(1), "p"})
	if x != y {
		t.Error("the digest depends on the order of rows")
	}
	for _, row := range [][]any{{int64(1), "q"}, {true, "p"}, {int64(1), []byte("p")}, {nil, "p"}} {
		var z digest
		z.add(cols, []any{int64(2), "q"})
		z.add(cols, row)
		if z == x {
			t.Errorf("row %v has the digest of {1, p}", row)
		}
	}
}
