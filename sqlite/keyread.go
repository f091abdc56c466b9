package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// keyReader is the gateway's key lookup (sqlstore.Config.ReadKey) through
// SQLite's own interface, as modernc.org/sqlite translates it, on
// connections of its own: a statement prepared once per connection, the
// identifier bound from memory the connection keeps, the columns read
// straight into the store's scan targets. Through database/sql and the
// driver, a lookup of the 31 columns cost ≈ 16 µs on top of SQLite's own
// work (the driver's column names and types for every query, a Go value per
// column, database/sql's conversion and locks; docs/benchmarks.md, "Miss
// path").
//
// Its connections are readers like the pool's: the same file, query_only,
// the file mapped (mmap_size), and a wait of up to 5 s while the file is
// locked (busy_timeout's), which ends early when the request's context is
// done (keyBusy).
type keyReader struct {
	path  string
	query string
	idle  chan *keyConn
	slots chan struct{} // one per connection open or opening; bounds them

	mu     sync.Mutex
	closed bool
}

func newKeyReader(path string, conns int) *keyReader {
	return &keyReader{path: path, query: sqlstore.LookupKeyQuery(),
		idle: make(chan *keyConn, conns), slots: make(chan struct{}, conns)}
}

// keyConn is one SQLite connection, used by one goroutine at a time.
type keyConn struct {
	tls  *libc.TLS
	db   uintptr
	stmt uintptr
	// begin, commit (and rollback, should commit fail) bracket readAll's
	// reads: one read transaction for the batch instead of one per read
	// (each takes and drops the log's shared-memory read lock, fcntl calls
	// of ≈ 10 µs here together).
	begin, commit, rollback uintptr
	buf                     uintptr // C memory the identifier is copied to, bound without a copy
	size                    int     // buf's size

	ctx       context.Context // the read's, for keyBusy
	busySince time.Time       // when keyBusy's current wait began
}

// keyConns are the open connections by SQLite handle, for keyBusy, which
// SQLite calls with the handle.
var keyConns sync.Map // uintptr → *keyConn

// keyBusyTimeout bounds a wait for a locked file, as busy_timeout does on
// the pool's readers.
const keyBusyTimeout = 5 * time.Second

// keyBusyDelays are the pauses between attempts, SQLite's own for
// busy_timeout (sqliteDefaultBusyCallback), the last one repeated.
var keyBusyDelays = [...]time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}

// keyBusy is the connections' busy handler in place of busy_timeout: SQLite
// calls it when the file is locked (in WAL mode rarely: a recovery, a
// checkpoint that resets the log), and tries again while it returns
// nonzero. It waits as busy_timeout would, but no longer than the read's
// context allows: without it a lookup could hold its request for 5 s past
// the request's deadline. (A lookup that is not waiting is a few
// microseconds of B-tree search, too short to need sqlite3_interrupt.)
func keyBusy(_ *libc.TLS, db uintptr, n int32) int32 {
	v, ok := keyConns.Load(db)
	if !ok {
		return 0
	}
	c := v.(*keyConn)
	now := time.Now()
	if n == 0 {
		c.busySince = now
	}
	left := keyBusyTimeout - now.Sub(c.busySince)
	if left <= 0 || c.ctx.Err() != nil {
		return 0
	}
	d := keyBusyDelays[min(int(n), len(keyBusyDelays)-1)] * time.Millisecond
	if d > left {
		d = left
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 1
	case <-c.ctx.Done():
		return 0
	}
}

var errKeyReaderClosed = fmt.Errorf("sqlite: key reader closed: %w", sql.ErrConnDone)

// read reads the row of the lookup query for identifier into dest; see
// sqlstore.Config.ReadKey.
func (r *keyReader) read(ctx context.Context, identifier string, dest []any) error {
	return r.withConn(ctx, func(c *keyConn) error {
		found, err := c.lookup(identifier, func() []any { return dest })
		if err == nil && !found {
			err = sql.ErrNoRows
		}
		return err
	})
}

// readAll reads the rows of the lookup query for identifiers in one read
// transaction, each found one into a dest() of its own; see
// sqlstore.Config.ReadKeys.
func (r *keyReader) readAll(ctx context.Context, identifiers []string, dest func() []any) error {
	return r.withConn(ctx, func(c *keyConn) error {
		readAll := func() error {
			for _, id := range identifiers {
				if _, err := c.lookup(id, dest); err != nil {
					return err
				}
			}
			return nil
		}
		if len(identifiers) == 1 {
			return readAll() // a read is a transaction of its own
		}
		return c.inTransaction(readAll)
	})
}

// withConn runs fn on a connection for ctx's read.
func (r *keyReader) withConn(ctx context.Context, fn func(c *keyConn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := r.get(ctx)
	if err != nil {
		return err
	}
	c.ctx = ctx
	return r.done(c, fn(c))
}

// done puts c back after a read that ended with err, and returns err, an
// outage when the read's context ended it.
func (r *keyReader) done(c *keyConn, err error) error {
	if err != nil && !errors.Is(err, sql.ErrNoRows) && c.ctx.Err() != nil {
		err = keygate.Unavailable(fmt.Errorf("%w (%w)", err, c.ctx.Err()), "store unavailable")
	}
	c.ctx = context.Background()
	if c.inOpenTransaction() {
		c.close()
		<-r.slots
		return cmp.Or(err, errors.New("sqlite: key lookup: a read transaction could not be ended"))
	}
	r.put(c)
	return err
}

// get returns an idle connection, or opens one while fewer than the bound
// are open, or waits for one.
func (r *keyReader) get(ctx context.Context) (*keyConn, error) {
	select {
	case c := <-r.idle:
		return c, nil
	default:
	}
	select {
	case c := <-r.idle:
		return c, nil
	case r.slots <- struct{}{}:
		c, err := r.open()
		if err != nil {
			<-r.slots
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *keyReader) put(c *keyConn) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		c.close()
		return
	}
	r.idle <- c // never blocks: one place per connection
}

func (r *keyReader) open() (*keyConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errKeyReaderClosed
	}
	c := &keyConn{tls: libc.NewTLS()}
	if err := c.open(r.path, r.query); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// Close closes the idle connections; one in use is closed when it is put back.
func (r *keyReader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for {
		select {
		case c := <-r.idle:
			c.close()
		default:
			return nil
		}
	}
}

// keyReaderPragmas are the readers' settings (see openAt).
// busy_timeout is keyBusy's.
var keyReaderPragmas = fmt.Sprintf("PRAGMA query_only=1; PRAGMA mmap_size=%d;", readerMmapSize)

// keyBusyFunc is keyBusy as a C function pointer (as modernc.org/sqlite
// makes its callbacks: a Go func value is a pointer to its code pointer).
var keyBusyFunc = func() uintptr {
	f := keyBusy
	return *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, int32) int32
	}{f}))
}()

func (c *keyConn) open(path, query string) error {
	pdb, err := c.malloc(int(unsafe.Sizeof(uintptr(0))))
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, pdb)
	name, err := libc.CString(path)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, name)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(cmem(pdb))
	if rc != sqlite3.SQLITE_OK {
		return c.errorf("open", rc)
	}
	c.ctx = context.Background()
	keyConns.Store(c.db, c)
	sqlite3.Xsqlite3_busy_handler(c.tls, c.db, keyBusyFunc, c.db)
	pragmas, err := libc.CString(keyReaderPragmas)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, pragmas)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, pragmas, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.errorf("settings", rc)
	}
	if c.stmt, err = c.prepare(query); err != nil {
		return err
	}
	if c.begin, err = c.prepare("BEGIN"); err != nil {
		return err
	}
	if c.commit, err = c.prepare("COMMIT"); err != nil {
		return err
	}
	c.rollback, err = c.prepare("ROLLBACK")
	return err
}

// prepare compiles query once, for the connection's life.
func (c *keyConn) prepare(query string) (uintptr, error) {
	q, err := libc.CString(query)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, q)
	pstmt, err := c.malloc(int(unsafe.Sizeof(uintptr(0))))
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, pstmt)
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, q, -1, pstmt, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.errorf("prepare", rc)
	}
	return *(*uintptr)(cmem(pstmt)), nil
}

func (c *keyConn) malloc(n int) (uintptr, error) {
	p := libc.Xmalloc(c.tls, types.Size_t(n))
	if p == 0 {
		return 0, fmt.Errorf("sqlite: cannot allocate %d bytes", n)
	}
	return p, nil
}

func (c *keyConn) close() {
	for _, stmt := range []uintptr{c.stmt, c.begin, c.commit, c.rollback} {
		if stmt != 0 {
			sqlite3.Xsqlite3_finalize(c.tls, stmt)
		}
	}
	if c.db != 0 {
		keyConns.CompareAndDelete(c.db, c) // not a newer connection given the same handle
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	if c.buf != 0 {
		libc.Xfree(c.tls, c.buf)
	}
	c.tls.Close()
	*c = keyConn{}
}

// errorf is the error for result code rc of step, with SQLite's message.
func (c *keyConn) errorf(step string, rc int32) error {
	msg := "unknown error"
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	} else if p := sqlite3.Xsqlite3_errstr(c.tls, rc); p != 0 {
		msg = libc.GoString(p)
	}
	err := fmt.Errorf("sqlite: key lookup: %s: %s (%d)", step, msg, rc)
	switch rc & 0xff { // as classify: the database cannot be used right now
	case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpen:
		return keygate.Unavailable(err, "store unavailable")
	}
	return err
}

// inTransaction runs fn in one read transaction. An explicit transaction
// outlives an error of fn's (in autocommit mode a reset ends the read), so
// it is ended whatever happens: a connection left in one would read its
// snapshot, never a newer key.
func (c *keyConn) inTransaction(fn func() error) error {
	if err := c.exec(c.begin, "begin"); err != nil {
		return err
	}
	err := fn()
	if cerr := c.exec(c.commit, "commit"); cerr != nil {
		err = cmp.Or(err, cerr)
		c.exec(c.rollback, "rollback")
	}
	return err
}

// inOpenTransaction says whether a transaction is open on c: one that could
// not be ended, after which c must not be used again.
func (c *keyConn) inOpenTransaction() bool {
	return sqlite3.Xsqlite3_get_autocommit(c.tls, c.db) == 0
}

// exec runs stmt, which returns no rows.
func (c *keyConn) exec(stmt uintptr, step string) error {
	defer sqlite3.Xsqlite3_reset(c.tls, stmt)
	if rc := sqlite3.Xsqlite3_step(c.tls, stmt); rc != sqlite3.SQLITE_DONE {
		return c.errorf(step, rc)
	}
	return nil
}

// lookup reads identifier's row of the lookup query, if there is one, into
// dest(), which it calls then.
func (c *keyConn) lookup(identifier string, dest func() []any) (found bool, _ error) {
	if len(identifier) > c.size {
		if c.buf != 0 {
			libc.Xfree(c.tls, c.buf)
			c.buf, c.size = 0, 0
		}
		p, err := c.malloc(max(64, len(identifier)))
		if err != nil {
			return false, err
		}
		c.buf, c.size = p, max(64, len(identifier))
	}
	copy(unsafe.Slice((*byte)(cmem(c.buf)), len(identifier)), identifier)
	// SQLITE_STATIC (0): SQLite reads buf in place, which stays put until
	// the reset below.
	if rc := sqlite3.Xsqlite3_bind_text(c.tls, c.stmt, 1, c.buf, int32(len(identifier)), 0); rc != sqlite3.SQLITE_OK {
		return false, c.errorf("bind", rc)
	}
	defer sqlite3.Xsqlite3_reset(c.tls, c.stmt) // outside a transaction, ends the read's
	switch rc := sqlite3.Xsqlite3_step(c.tls, c.stmt); rc {
	case sqlite3.SQLITE_ROW:
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, c.errorf("step", rc)
	}
	d := dest()
	if n := int(sqlite3.Xsqlite3_column_count(c.tls, c.stmt)); n != len(d) {
		return true, fmt.Errorf("sqlite: key lookup: %d columns, %d destinations", n, len(d))
	}
	for i, v := range d {
		if err := assign(v, c.column(i)); err != nil {
			return true, fmt.Errorf("sqlite: key lookup: column %d: %w", i, err)
		}
	}
	return true, nil
}

// column is column i of the current row as the driver gives it to
// database/sql: nil, int64, float64, string or []byte.
func (c *keyConn) column(i int) any {
	col := int32(i)
	switch sqlite3.Xsqlite3_column_type(c.tls, c.stmt, col) {
	case sqlite3.SQLITE_NULL:
		return nil
	case sqlite3.SQLITE_INTEGER:
		return sqlite3.Xsqlite3_column_int64(c.tls, c.stmt, col)
	case sqlite3.SQLITE_FLOAT:
		return sqlite3.Xsqlite3_column_double(c.tls, c.stmt, col)
	case sqlite3.SQLITE_BLOB:
		p := sqlite3.Xsqlite3_column_blob(c.tls, c.stmt, col)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, c.stmt, col))
		if p == 0 || n == 0 {
			return []byte(nil)
		}
		return append([]byte(nil), unsafe.Slice((*byte)(cmem(p)), n)...)
	default: // text
		p := sqlite3.Xsqlite3_column_text(c.tls, c.stmt, col)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, c.stmt, col))
		if p == 0 || n == 0 {
			return ""
		}
		return string(unsafe.Slice((*byte)(cmem(p)), n))
	}
}

// assign stores src in dest as database/sql's Scan does for the kinds of
// destination the store's lookup uses: a sql.Scanner, or a pointer to a
// string, []byte, bool or integer kind.
func assign(dest, src any) error {
	if s, ok := dest.(sql.Scanner); ok {
		return s.Scan(src)
	}
	switch d := dest.(type) {
	case *string:
		switch v := src.(type) {
		case string:
			*d = v
			return nil
		case []byte:
			*d = string(v)
			return nil
		}
	case *[]byte:
		switch v := src.(type) {
		case nil:
			*d = nil
			return nil
		case []byte:
			*d = v
			return nil
		case string:
			*d = []byte(v)
			return nil
		}
	case *bool:
		if v, ok := src.(int64); ok {
			*d = v != 0
			return nil
		}
	case *int64:
		if v, ok := src.(int64); ok {
			*d = v
			return nil
		}
	default:
		rv := reflect.ValueOf(dest)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() {
			e := rv.Elem()
			switch v := src.(type) {
			case string:
				if e.Kind() == reflect.String {
					e.SetString(v)
					return nil
				}
			case int64:
				switch e.Kind() {
				case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
					e.SetInt(v)
					return nil
				case reflect.Bool:
					e.SetBool(v != 0)
					return nil
				}
			}
		}
	}
	return fmt.Errorf("cannot store %T in %T", src, dest)
}

// cmem is the address of C memory (libc's, not Go's heap, so the collector
// neither moves nor frees it) as a pointer.
func cmem(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
