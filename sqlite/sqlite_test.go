package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/cpubench"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/storetest"
)

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
	latest := embedded[len(embedded)-1].Version

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
			b, err := fs.ReadFile(migrations, m.Name)
			if err != nil {
				t.Fatal(err)
			}
			newer[m.Name] = &fstest.MapFile{Data: b}
		}
		if err := migrate(t.Context(), db.w, newer, db.now, 0); err != nil {
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
		if err := migrate(t.Context(), db.w, bad, db.now, 0); err == nil {
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

	// A closed store is unavailable (503), not broken (500).
	ctx := t.Context()
	ops := []struct {
		name string
		op   func() error
	}{
		{"find", func() error { _, err := db.FindConsumer(ctx, c.ID); return err }},
		{"list", func() error { _, _, err := db.ListServices(ctx, keygate.Page{}); return err }},
		{"lookup", func() error { _, _, err := db.LookupKey(ctx, "ident"); return err }},
		{"lookup hmac credential", func() error { _, _, err := db.LookupHMACCredential(ctx, "signer"); return err }},
		{"list hmac credentials", func() error {
			_, _, err := db.ListHMACCredentials(ctx, keygate.HMACCredentialFilter{}, keygate.Page{})
			return err
		}},
		{"create hmac credential", func() error {
			return db.CreateHMACCredential(ctx, &keygate.HMACCredential{Consumer: keygate.Ref{ID: c.ID}, Username: "signer"},
				func(string) (*keygate.Sealed, error) { return nil, errors.New("not called") })
		}},
		{"delete hmac credential", func() error { return db.DeleteHMACCredential(ctx, c.ID) }},
		{"create", func() error { return db.CreateConsumer(ctx, &keygate.Consumer{Username: "bob"}) }},
		{"update", func() error {
			_, err := db.UpdateConsumer(ctx, c.ID, func(*keygate.Consumer) error { return nil })
			return err
		}},
		{"delete", func() error { return db.DeleteConsumer(ctx, c.ID) }},
		{"find admin token", func() error { _, err := db.FindAdminToken(ctx, []byte("x")); return err }},
		{"count admin tokens", func() error { _, err := db.CountAdminTokens(ctx); return err }},
		{"put admin token", func() error {
			return db.PutAdminToken(ctx, &keygate.AdminToken{Name: "n", Hash: []byte("x"), Role: keygate.RoleAdmin})
		}},
	}
	for _, tt := range ops {
		t.Run(tt.name+" after Close is UNAVAILABLE", func(t *testing.T) {
			err := tt.op()
			if code := keygate.ErrorCode(err); code != keygate.EUNAVAILABLE || keygate.ErrorMessage(err) != "store unavailable" {
				t.Errorf("error = %v, want %s with message %q", err, keygate.EUNAVAILABLE, "store unavailable")
			}
		})
	}

	db = open(t, path, Options{})
	defer db.Close()
	if _, err := db.FindConsumer(t.Context(), "alice"); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

// TestStoreError feeds storeError real failures of the driver and of
// database/sql: the ones that mean "the database cannot be used now" must
// become UNAVAILABLE, everything else must pass unchanged.
func TestStoreError(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	raw := func(tb testing.TB, dsn string) *sql.DB {
		tb.Helper()
		d, err := sql.Open("sqlite", dsn)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { d.Close() })
		return d
	}

	// Two connections to one file without a busy timeout: the second cannot
	// write while the first holds the write lock.
	locked := filepath.Join(dir, "locked.db")
	holder := raw(t, dsn(locked, "_txlock=immediate"))
	if _, err := holder.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	busyErr := func() error {
		d := raw(t, "file:"+locked+"?_pragma=busy_timeout(0)")
		_, err := d.Exec(`INSERT INTO t VALUES (1)`)
		return err
	}()

	cantOpenErr := raw(t, "file:"+filepath.Join(dir, "missing", "x.db")+"?mode=ro").Ping()

	closedErr := func() error {
		d := raw(t, "file:"+filepath.Join(dir, "closed.db"))
		d.Close()
		return d.Ping()
	}()

	deadlineErr := func() error {
		dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		return raw(t, "file:"+filepath.Join(dir, "deadline.db")).PingContext(dctx)
	}()

	uniqueErr := func() error {
		d := raw(t, "file:"+filepath.Join(dir, "unique.db"))
		if _, err := d.Exec(`CREATE TABLE u (x UNIQUE); INSERT INTO u VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		_, err := d.Exec(`INSERT INTO u VALUES (1)`)
		return err
	}()

	syntaxErr := func() error {
		_, err := raw(t, "file:"+filepath.Join(dir, "syntax.db")).Exec(`NOT SQL`)
		return err
	}()

	appErr := keygate.Errorf(keygate.ENOTFOUND, "consumer not found")
	plain := errors.New("the update function said no")

	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"SQLITE_BUSY past the busy timeout", busyErr, true},
		{"SQLITE_CANTOPEN", cantOpenErr, true},
		{"a closed database", closedErr, true},
		{"sql.ErrConnDone", fmt.Errorf("sqlite: commit: %w", sql.ErrConnDone), true},
		{"a deadline passed", deadlineErr, true},
		{"a constraint violation", uniqueErr, false},
		{"bad SQL", syntaxErr, false},
		{"an application error", appErr, false},
		{"any other error", plain, false},
		{"no rows", sql.ErrNoRows, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("the failure did not happen")
			}
			got := storeError(tt.err)
			switch {
			case tt.unavailable && keygate.ErrorCode(got) != keygate.EUNAVAILABLE:
				t.Errorf("storeError(%v) = %v, want UNAVAILABLE", tt.err, got)
			case tt.unavailable && !errors.Is(got, tt.err):
				t.Errorf("storeError(%v) = %v, which does not wrap the cause", tt.err, got)
			case !tt.unavailable && got != tt.err:
				t.Errorf("storeError(%v) = %v, want it unchanged", tt.err, got)
			}
		})
	}
	if storeError(nil) != nil {
		t.Error("storeError(nil) != nil")
	}
}

// TestMigrationDedupesAdminTokenNames opens a file made before admin token
// names were unique, holding several "bootstrap" tokens (one per
// KEYGATE_ADMIN_TOKEN ever used): only the newest stays valid.
func TestMigrationDedupesAdminTokenNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	w, err := sql.Open("sqlite", dsn(path, "_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := fs.ReadFile(migrations, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), w, fstest.MapFS{"migrations/0001_init.sql": {Data: first}}, time.Now, 0); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		id, name, hash string
		created        int64
	}{
		{"00000000-0000-7000-8000-000000000001", "bootstrap", "a", 100},
		{"00000000-0000-7000-8000-000000000002", "bootstrap", "b", 300}, // the newest bootstrap
		{"00000000-0000-7000-8000-000000000003", "bootstrap", "c", 200},
		{"00000000-0000-7000-8000-000000000004", "generated", "g", 50},
		{"00000000-0000-7000-8000-000000000005", "tie", "t1", 400},
		{"00000000-0000-7000-8000-000000000006", "tie", "t2", 400}, // same time: the larger id wins
	}
	for _, r := range rows {
		if _, err := w.Exec(`INSERT INTO admin_tokens (id, name, token_hash, role, created_at) VALUES (?, ?, ?, 'admin', ?)`,
			r.id, r.name, []byte(r.hash), r.created); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	db := open(t, path, Options{})
	defer db.Close()
	tests := []struct {
		hash  string
		valid bool
	}{{"a", false}, {"b", true}, {"c", false}, {"g", true}, {"t1", false}, {"t2", true}}
	for _, tt := range tests {
		t.Run("token "+tt.hash, func(t *testing.T) {
			_, err := db.FindAdminToken(t.Context(), []byte(tt.hash))
			if valid := err == nil; valid != tt.valid {
				t.Errorf("FindAdminToken: %v, want valid %v", err, tt.valid)
			}
		})
	}
	err = db.CreateAdminToken(t.Context(), &keygate.AdminToken{Name: "bootstrap", Hash: []byte("d"), Role: keygate.RoleAdmin})
	if keygate.ErrorCode(err) != keygate.ECONFLICT {
		t.Errorf("a second bootstrap token: %v, want CONFLICT", err)
	}
}

func BenchmarkLookupKey(b *testing.B) {
	db, viaSQL := openWithSQLReads(b)
	ctx := context.Background()
	identifiers := storetest.LookupKeysFixture(b, db)
	for _, bb := range []struct {
		name  string
		store *sqlstore.DB
	}{{"read=engine", db.DB}, {"read=database-sql", viaSQL}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpubench.Process()
			i := 0
			for b.Loop() {
				if _, _, err := bb.store.LookupKey(ctx, identifiers[i%len(identifiers)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64((cpubench.Process()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	// A gateway's batch of misses (keyauth.Batch): 16 keys in one read
	// transaction; per key, to compare with one read each.
	b.Run("read=engine/batch=16", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpubench.Process()
		i := 0
		for b.Loop() {
			batch := identifiers[i%(len(identifiers)-16):][:16]
			if kcs, err := db.LookupKeys(ctx, batch); err != nil || len(kcs) != 16 {
				b.Fatal(len(kcs), err)
			}
			i += 16
		}
		b.ReportMetric(float64((cpubench.Process()-cpu0).Nanoseconds())/float64(b.N*16), "cpu-ns/key")
	})
}

// openWithSQLReads opens a store in a new file, and beside it the same
// database as a store that reads keys through database/sql instead of the
// key reader, to compare the two; both are closed when tb ends.
func openWithSQLReads(tb testing.TB) (db *DB, viaSQL *sqlstore.DB) {
	tb.Helper()
	db = open(tb, filepath.Join(tb.TempDir(), "keygate.db"), Options{})
	tb.Cleanup(func() { db.Close() })
	return db, storetest.WithSQLReads(tb, db.DB)
}

// TestKeyReader: LookupKey through the key reader gives what database/sql's
// read gives, for a key and consumer with every column set, and NOT_FOUND
// for an identifier not stored; concurrent lookups share its connections.
func TestKeyReader(t *testing.T) {
	db, viaSQL := openWithSQLReads(t)
	ctx := t.Context()
	c := &keygate.Consumer{Username: "alice", CustomID: "ext-1", Groups: []string{"partners", "beta"}, Tags: []string{"t"}}
	if err := db.CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour)
	k := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Identifier: "identfull", Prefix: "kg_live", Start: "abcd",
		SecretHash: []byte("0123456789abcdef0123456789abcdef"), Name: "full", AllowedServices: []string{"s1"},
		AllowedRoutes: []string{"r1", "r2"}, AllowedCIDRs: []string{"10.0.0.0/8"}, Tags: []string{"x"}, ExpiresAt: &expires}
	if err := db.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeKey(ctx, k.ID); err != nil { // revoked_at set too
		t.Fatal(err)
	}
	gotK, gotC, err := db.LookupKey(ctx, k.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	wantK, wantC, err := viaSQL.LookupKey(ctx, k.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotK, wantK) || !reflect.DeepEqual(gotC, wantC) {
		t.Errorf("key reader: %+v %+v\ndatabase/sql: %+v %+v", gotK, gotC, wantK, wantC)
	}
	if gotK.RevokedAt == nil || gotK.ExpiresAt == nil || len(gotK.AllowedRoutes) != 2 || len(gotC.Groups) != 2 {
		t.Errorf("key reader lost columns: %+v %+v", gotK, gotC)
	}
	if _, _, err := db.LookupKey(ctx, "nosuchident"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("an unknown identifier: %v, want NOT_FOUND", err)
	}
	var wg sync.WaitGroup
	for range 4 * readerConns() {
		wg.Go(func() {
			for range 50 {
				if _, _, err := db.LookupKey(ctx, k.Identifier); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(db.keys.slots); n > readerConns() {
		t.Errorf("%d key reader connections, want at most %d", n, readerConns())
	}
}

// TestReaderPragmas: every reader connection maps the file (see
// readerMmapSize) and cannot write.
func TestReaderPragmas(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	db.r.SetMaxIdleConns(2)
	ctx := t.Context()
	// Two connections at once, so that both are checked, not one twice.
	conns := make([]*sql.Conn, 2)
	for i := range conns {
		c, err := db.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		var mmap int64
		var queryOnly int
		if err := c.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&mmap); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA query_only`).Scan(&queryOnly); err != nil {
			t.Fatal(err)
		}
		if mmap != readerMmapSize || queryOnly != 1 {
			t.Errorf("reader %d: mmap_size %d, query_only %d; want %d and 1", i, mmap, queryOnly, readerMmapSize)
		}
	}
}

// BenchmarkUsageFlush: a flush of 1,000 keys' usage (see docs/benchmarks.md).
func BenchmarkUsageFlush(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	storetest.BenchmarkUsageFlush(b, db, 1000)
}

func BenchmarkVerificationFlush(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	storetest.BenchmarkVerificationFlush(b, db, 1000)
}

// TestKeyReaderHonoursContext: a lookup waiting for a locked file ends when
// its context's deadline passes or it is canceled (UNAVAILABLE, with the
// context's error), not after the 5 s a busy_timeout would wait; once the
// lock is gone, the same connection reads again.
func TestKeyReaderHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	// A rollback journal, where a writer's exclusive lock keeps every reader
	// out (in WAL mode only a recovery or a log reset does).
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(delete)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	ctx := t.Context()
	if _, err := w.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('a', 'one')`); err != nil {
		t.Fatal(err)
	}
	r := &keyReader{path: path, query: `SELECT v FROM t WHERE k = ?`,
		idle: make(chan *keyConn, 1), slots: make(chan struct{}, 1)}
	defer r.Close()
	var v string
	if err := r.read(ctx, "a", []any{&v}); err != nil || v != "one" {
		t.Fatalf("unlocked: %q, %v", v, err)
	}

	lock, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, `BEGIN EXCLUSIVE; UPDATE t SET v = 'two'`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 100*time.Millisecond) },
			context.DeadlineExceeded},
		{"canceled", func() (context.Context, context.CancelFunc) {
			c, cancel := context.WithCancel(ctx)
			time.AfterFunc(100*time.Millisecond, cancel)
			return c, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := r.read(c, "a", []any{&v})
			took := time.Since(start)
			if keygate.ErrorCode(err) != keygate.EUNAVAILABLE || !errors.Is(err, tc.want) {
				t.Errorf("locked: %v, want UNAVAILABLE and %v", err, tc.want)
			}
			if took < 90*time.Millisecond || took > 2*time.Second {
				t.Errorf("locked: returned after %v, want ≈ 100 ms", took)
			}
		})
	}
	t.Run("a batch", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		err := r.readAll(c, []string{"a"}, func() []any { return []any{&v} })
		if keygate.ErrorCode(err) != keygate.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("locked: %v, want UNAVAILABLE and %v", err, context.DeadlineExceeded)
		}
	})
	done := make(chan error, 1)
	go func() { done <- r.read(ctx, "a", []any{&v}) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := lock.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if err := <-done; err != nil || v != "two" {
		t.Errorf("after the lock: %q, %v", v, err)
	}
}

// TestKeyReaderReadsABatchInOneTransaction: LookupKeys reads through the key
// reader, every key of a batch in one read transaction, each identifier
// once, as database/sql's IN list does; and the transaction ends with the
// batch, failed or not, so that the next batch sees keys created since.
func TestKeyReaderReadsABatchInOneTransaction(t *testing.T) {
	db, viaSQL := openWithSQLReads(t)
	ctx := t.Context()
	c := &keygate.Consumer{Username: "alice", Roles: []string{"reader"}}
	if err := db.CreatePermission(ctx, &keygate.Permission{Name: "docs.read"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRole(ctx, &keygate.Role{Name: "reader", Permissions: []string{"docs.read"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	newKey := func(identifier string) {
		t.Helper()
		k := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Identifier: identifier, Prefix: "kg_live", SecretHash: make([]byte, 32)}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	newKey("identb")
	newKey("identa")
	batch := []string{"identb", "nosuch", "identa", "identb"}
	got, err := db.LookupKeys(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want, err := viaSQL.LookupKeys(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	sortByIdentifier := func(kcs []keygate.KeyWithConsumer) {
		slices.SortFunc(kcs, func(a, b keygate.KeyWithConsumer) int { return strings.Compare(a.Key.Identifier, b.Key.Identifier) })
	}
	sortByIdentifier(got)
	sortByIdentifier(want)
	if len(got) != 2 || !reflect.DeepEqual(got, want) {
		t.Errorf("key reader: %d keys %+v\ndatabase/sql: %+v", len(got), got, want)
	}
	if len(got) > 0 && !slices.Equal(got[0].Key.RolePermissions["reader"], []string{"docs.read"}) {
		t.Errorf("the consumer's role permissions: %v", got[0].Key.RolePermissions)
	}

	// A batch that fails half way (a destination too few) ends its transaction too.
	err = db.keys.readAll(ctx, []string{"identa", "identb"}, func() []any { return nil })
	if err == nil {
		t.Fatal("a read into no destinations succeeded")
	}
	newKey("identc")
	if got, err := db.LookupKeys(ctx, []string{"identa", "identc"}); err != nil || len(got) != 2 {
		t.Errorf("after a key was created: %d keys, %v; want 2", len(got), err)
	}
	if _, _, err := db.LookupKey(ctx, "identc"); err != nil {
		t.Errorf("one key after a batch: %v", err)
	}
	for range len(db.keys.idle) {
		conn := <-db.keys.idle
		if conn.inOpenTransaction() {
			t.Error("an idle key reader connection is in a transaction")
		}
		db.keys.idle <- conn
	}
}
