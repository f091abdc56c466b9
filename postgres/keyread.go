package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/keygate/keygate/internal/sqlstore"
)

// keyReader is the gateway's batched key lookup (sqlstore.Config.ReadKeys)
// through pgx's own interface on a connection of the pool: pgx decodes each
// column straight into the store's scan targets. Through database/sql, the
// driver made a Go value of each of the 42 columns and database/sql
// converted it again, under its locks (docs/benchmarks.md, "Miss path").
// The statements are database/sql's (sqlstore.LookupKeysQuery), which pgx
// prepares once per connection.
type keyReader struct{ db *sql.DB }

// readAll reads the rows of the lookup query for identifiers, each found one
// into a dest() of its own; see sqlstore.Config.ReadKeys.
func (r keyReader) readAll(ctx context.Context, identifiers []string, dest func() []any) error {
	query, args := sqlstore.LookupKeysQuery(identifiers)
	query = dialect.Rebind(query)
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres: key lookup: a %T is not pgx's connection", driverConn)
		}
		rows, err := c.Conn().Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(dest()...); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}
