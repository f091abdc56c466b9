package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(tb testing.TB, h storetest.Harness) keygate.Store {
		return open(tb, filepath.Join(tb.TempDir(), "keygate.db"), Options{Now: h.Now, OnChange: h.OnChange})
	})
}

func open(tb testing.TB, path string, opts Options) *DB {
	tb.Helper()
	db, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func versions(tb testing.TB, db *DB) []int {
	tb.Helper()
	rows, err := db.r.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	embedded, err := readMigrations(migrations)
	if err != nil {
		t.Fatal(err)
	}
	latest := embedded[len(embedded)-1].version

	t.Run("opening twice applies each migration once", func(t *testing.T) {
		for range 2 {
			db := open(t, path, Options{})
			if vs := versions(t, db); len(vs) != len(embedded) || vs[len(vs)-1] != latest {
				t.Errorf("applied versions %v, want %d ending in %d", vs, len(embedded), latest)
			}
			db.Close()
		}
	})

	t.Run("a newer migration applies to an old file", func(t *testing.T) {
		db := open(t, path, Options{})
		defer db.Close()
		newer := fstest.MapFS{fmt.Sprintf("migrations/%04d_widgets.sql", latest+1): {
			Data: []byte("CREATE TABLE widgets (id TEXT PRIMARY KEY);\nCREATE INDEX widgets_id ON widgets(id);"),
		}}
		for _, m := range embedded {
			b, err := fs.ReadFile(migrations, m.name)
			if err != nil {
				t.Fatal(err)
			}
			newer[m.name] = &fstest.MapFile{Data: b}
		}
		if err := migrate(t.Context(), db.w, newer, db.now); err != nil {
			t.Fatal(err)
		}
		if vs := versions(t, db); vs[len(vs)-1] != latest+1 {
			t.Errorf("applied versions %v, want them to end in %d", vs, latest+1)
		}
		if _, err := db.w.Exec(`INSERT INTO widgets (id) VALUES ('w')`); err != nil {
			t.Errorf("new table: %v", err)
		}
	})

	t.Run("a file migrated by a newer keygate is refused", func(t *testing.T) {
		_, err := Open(t.Context(), path, Options{})
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Open = %v, want an error about a newer schema", err)
		}
	})

	t.Run("a failing migration leaves nothing behind", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
		defer db.Close()
		bad := fstest.MapFS{
			"migrations/0001_init.sql":                       {Data: []byte("SELECT 1;")}, // already applied, so not run
			fmt.Sprintf("migrations/%04d_bad.sql", latest+1): {Data: []byte("CREATE TABLE half (id TEXT);\nNOT SQL;")},
		}
		if err := migrate(t.Context(), db.w, bad, db.now); err == nil {
			t.Fatal("migrate succeeded with a broken migration")
		}
		var n int
		if err := db.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("table of the failed migration: count %d, err %v", n, err)
		}
		if vs := versions(t, db); vs[len(vs)-1] != latest {
			t.Errorf("applied versions %v after a failed migration", vs)
		}
	})
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "keygate.db")
	db := open(t, path, Options{})
	defer db.Close()

	t.Run("file is private", func(t *testing.T) {
		for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700 | os.ModeDir} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != want {
				t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
			}
		}
	})

	t.Run("pragmas", func(t *testing.T) {
		tests := []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
			{"synchronous", "1"}, // NORMAL
		}
		for _, tt := range tests {
			for name, h := range map[string]interface {
				QueryRow(string, ...any) *sql.Row
			}{"writer": db.w, "reader": db.r} {
				var got string
				if err := h.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("%s: %s = %s, want %s", name, tt.pragma, got, tt.want)
				}
			}
		}
	})

	t.Run("readers cannot write", func(t *testing.T) {
		if _, err := db.r.Exec(`DELETE FROM services`); err == nil {
			t.Error("a reader connection wrote")
		}
	})

	t.Run("a path with URI characters", func(t *testing.T) {
		odd := filepath.Join(t.TempDir(), "a?b#c%20d", "key gate.db")
		db := open(t, odd, Options{})
		defer db.Close()
		if _, err := os.Stat(odd); err != nil {
			t.Error(err)
		}
	})
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	db := open(t, path, Options{})
	c := &keygate.Consumer{Username: "alice"}
	if err := db.CreateConsumer(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("WAL file left after Close: %v", err)
	}
	_, err := db.FindConsumer(t.Context(), c.ID)
	if code := keygate.ErrorCode(err); code != keygate.EINTERNAL {
		t.Errorf("FindConsumer after Close: %v, want an internal error", err)
	}

	db = open(t, path, Options{})
	defer db.Close()
	if _, err := db.FindConsumer(t.Context(), "alice"); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

func BenchmarkLookupKey(b *testing.B) {
	const consumers, keysEach = 100, 10
	db := open(b, filepath.Join(b.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	ctx := context.Background()
	var identifiers []string
	for i := range consumers {
		c := &keygate.Consumer{Username: fmt.Sprintf("c%03d", i), Groups: []string{"partners"}}
		if err := db.CreateConsumer(ctx, c); err != nil {
			b.Fatal(err)
		}
		for j := range keysEach {
			k := &keygate.APIKey{
				Consumer: keygate.Ref{ID: c.ID}, Identifier: fmt.Sprintf("ident%03d%02d", i, j), Prefix: "kg_live",
				SecretHash: make([]byte, 32), AllowedCIDRs: []string{"10.0.0.0/8"},
			}
			if err := db.CreateKey(ctx, k); err != nil {
				b.Fatal(err)
			}
			identifiers = append(identifiers, k.Identifier)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := db.LookupKey(ctx, identifiers[i%len(identifiers)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
