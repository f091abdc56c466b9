package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate"
)

var _ keygate.ConsoleSessionStore = (*DB)(nil)

const consoleSessionCols = `token_hash, user_name, role, method, created_at, expires_at`

func scanConsoleSession(row scanner) (*keygate.ConsoleSession, error) {
	s := &keygate.ConsoleSession{}
	err := row.Scan(&s.TokenHash, &s.User, &s.Role, &s.Method, timeColumn{&s.CreatedAt}, timeColumn{&s.ExpiresAt})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// CreateConsoleSession implements keygate.ConsoleSessionStore. Expired
// sessions go in the same transaction, so the table holds only live ones
// and a few dead ones, without a job of its own.
func (db *DB) CreateConsoleSession(ctx context.Context, s *keygate.ConsoleSession) error {
	switch {
	case len(s.TokenHash) == 0:
		return keygate.Errorf(keygate.EINVALID, "token_hash: required")
	case s.User == "":
		return keygate.Errorf(keygate.EINVALID, "user: required")
	case s.Role == "":
		return keygate.Errorf(keygate.EINVALID, "role: required")
	case s.Method == "":
		return keygate.Errorf(keygate.EINVALID, "method: required")
	case s.ExpiresAt.IsZero():
		return keygate.Errorf(keygate.EINVALID, "expires_at: required")
	}
	now := db.stamp()
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, micros(now)); err != nil {
			return nil, fmt.Errorf("store: delete expired console sessions: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (`+consoleSessionCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			s.TokenHash, s.User, s.Role, s.Method, micros(now), micros(s.ExpiresAt))
		switch code, _ := constraint(err); {
		case code == Unique:
			return nil, keygate.Errorf(keygate.ECONFLICT, "token_hash: a session with this token already exists")
		case err != nil:
			return nil, fmt.Errorf("store: create console session: %w", err)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	s.CreatedAt = now
	return nil
}

// FindConsoleSession implements keygate.ConsoleSessionStore.
func (db *DB) FindConsoleSession(ctx context.Context, tokenHash []byte) (*keygate.ConsoleSession, error) {
	s, err := scanConsoleSession(db.r.QueryRowContext(ctx,
		`SELECT `+consoleSessionCols+` FROM console_sessions WHERE token_hash = ? AND expires_at > ?`, tokenHash, micros(db.stamp())))
	if err != nil {
		return nil, notFound(err, "console session not found")
	}
	return s, nil
}

// DeleteConsoleSession implements keygate.ConsoleSessionStore.
func (db *DB) DeleteConsoleSession(ctx context.Context, tokenHash []byte) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE token_hash = ?`, tokenHash); err != nil {
			return nil, fmt.Errorf("store: delete console session: %w", err)
		}
		return nil, nil
	})
}
