package sqlstore

import (
	"context"
	"database/sql"

	"github.com/keygate/keygate"
)

// The store's queries go through these thin wrappers of database/sql, which
// put each query's placeholders in the engine's form (Dialect.Rebind) and
// classify the errors that come back (Dialect.Classify), so that the code
// above them is written once for every engine.

// querier is what read helpers need; *pool and *Tx both have it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *Row
}

// pool is a *sql.DB read through the dialect.
type pool struct {
	db *sql.DB
	d  *Dialect
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error) {
	rows, err := p.db.QueryContext(ctx, p.d.Rebind(query), args...)
	if err != nil {
		return nil, p.d.wrap(err)
	}
	return &Rows{rows, p.d}, nil
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *Row {
	return &Row{p.db.QueryRowContext(ctx, p.d.Rebind(query), args...), p.d}
}

func (p *pool) prepare(ctx context.Context, query string) (*Stmt, error) {
	s, err := p.db.PrepareContext(ctx, p.d.Rebind(query))
	if err != nil {
		return nil, p.d.wrap(err)
	}
	return &Stmt{s, p.d}, nil
}

// Tx is a write transaction.
type Tx struct {
	tx *sql.Tx
	d  *Dialect
	// audits are the transaction's audit events, appended to the chain
	// just before it commits; summaries hold what updates changed, by
	// record id (see auditchange.go).
	audits    []*keygate.AuditEvent
	summaries map[string][]keygate.AuditChange
}

func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(ctx, t.d.Rebind(query), args...)
	return res, t.d.wrap(err)
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error) {
	rows, err := t.tx.QueryContext(ctx, t.d.Rebind(query), args...)
	if err != nil {
		return nil, t.d.wrap(err)
	}
	return &Rows{rows, t.d}, nil
}

func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *Row {
	return &Row{t.tx.QueryRowContext(ctx, t.d.Rebind(query), args...), t.d}
}

func (t *Tx) PrepareContext(ctx context.Context, query string) (*Stmt, error) {
	s, err := t.tx.PrepareContext(ctx, t.d.Rebind(query))
	if err != nil {
		return nil, t.d.wrap(err)
	}
	return &Stmt{s, t.d}, nil
}

// Stmt returns s, prepared on the pool, to run within the transaction.
func (t *Tx) Stmt(ctx context.Context, s *Stmt) *Stmt { return &Stmt{t.tx.StmtContext(ctx, s.s), t.d} }

// Stmt is a prepared statement.
type Stmt struct {
	s *sql.Stmt
	d *Dialect
}

func (s *Stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	res, err := s.s.ExecContext(ctx, args...)
	return res, s.d.wrap(err)
}

func (s *Stmt) QueryContext(ctx context.Context, args ...any) (*Rows, error) {
	rows, err := s.s.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.d.wrap(err)
	}
	return &Rows{rows, s.d}, nil
}

func (s *Stmt) QueryRowContext(ctx context.Context, args ...any) *Row {
	return &Row{s.s.QueryRowContext(ctx, args...), s.d}
}

func (s *Stmt) Close() error { return s.s.Close() }

// Row is one result row.
type Row struct {
	row *sql.Row
	d   *Dialect
}

func (r *Row) Scan(dest ...any) error { return r.d.wrap(r.row.Scan(dest...)) }

// Rows are a query's results.
type Rows struct {
	*sql.Rows
	d *Dialect
}

func (r *Rows) Scan(dest ...any) error { return r.d.wrap(r.Rows.Scan(dest...)) }
func (r *Rows) Err() error             { return r.d.wrap(r.Rows.Err()) }
