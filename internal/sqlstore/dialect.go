package sqlstore

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
)

// Dialect is what differs between the database engines the store runs on.
// Queries are written once, in the SQL both engines read, with ?N or ?
// placeholders; the few expressions that differ come from here.
type Dialect struct {
	// Name prefixes errors: "sqlite", "postgres".
	Name string
	// DollarPlaceholders: the engine takes $N, not ?N (see Rebind).
	DollarPlaceholders bool
	// TxOptions begins every write transaction. A write transaction must
	// behave as if it ran alone: SQLite's BEGIN IMMEDIATE (set by the
	// driver) takes the write lock up front; PostgreSQL runs SERIALIZABLE
	// and the store retries what Classify says is worth retrying.
	TxOptions *sql.TxOptions
	// ReadTxOptions begins a read that must see one snapshot.
	ReadTxOptions *sql.TxOptions
	// Classify says what a driver error means; the zero Class: nothing known.
	Classify func(err error) Class

	// JSONNumber is the number at key of the JSON object in column col.
	JSONNumber func(col, key string) string
	// JSONTrue is a condition: the JSON object in col has true at key.
	JSONTrue func(col, key string) string
	// JSONListHas is a condition: the JSON array of strings in col holds the
	// text param (a placeholder).
	JSONListHas func(col, param string) string
	// MonthStart is the unix second of the start of the UTC month holding
	// the unix second col, as an integer.
	MonthStart func(col string) string
	// ForUpdate ends a SELECT whose rows the transaction goes on to change
	// after a step that must not run twice (opening a secret kept for one
	// pickup): "" where write transactions never overlap (SQLite), " FOR
	// UPDATE" on PostgreSQL, so that the loser of a race waits there and
	// fails before the step, rather than at its commit after it.
	ForUpdate string
	// EmptyBlob is the literal of an empty byte string.
	EmptyBlob string
	// ArrayRows, when set, is a FROM source of rows whose columns come as
	// one array parameter each, of the SQL types given (PostgreSQL's
	// unnest): bulk writes then bind an array a column instead of a
	// placeholder a value (bulkWrite).
	ArrayRows func(types ...string) string

	rebound sync.Map // query → query with $N placeholders
}

// Constraint is the kind of a constraint violation.
type Constraint int

const (
	NoConstraint Constraint = iota
	Unique                  // a unique or primary key constraint
	ForeignKey
)

// Class is what a driver error means to the store.
type Class struct {
	Constraint Constraint
	// Column is the column a unique constraint is about, when known: it
	// picks which field an error message names.
	Column string
	// Unavailable: the database cannot be used right now (down, locked,
	// out of disk); the request itself may be fine.
	Unavailable bool
	// Retry: the transaction lost to a concurrent one (serialization
	// failure, deadlock) and may simply be run again.
	Retry bool
}

// dbError is a driver error with what the dialect knows of it. It wraps
// the driver's error, so errors.Is and errors.As still see it.
type dbError struct {
	err   error
	class Class
}

func (e *dbError) Error() string { return e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

// wrap classifies a driver error; one the dialect knows nothing of is
// returned as it is.
func (d *Dialect) wrap(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, ok := errors.AsType[*dbError](err); ok {
		return err
	}
	c := d.Classify(err)
	if c == (Class{}) {
		return err
	}
	return &dbError{err, c}
}

// classOf is what the dialect found of err (the zero Class when nothing).
func classOf(err error) Class {
	if e, ok := errors.AsType[*dbError](err); ok {
		return e.class
	}
	return Class{}
}

// StoreError is the store's error for a driver's error as this dialect
// classifies it: EUNAVAILABLE when the database cannot be used, else err as
// it is.
func (d *Dialect) StoreError(err error) error {
	wrapped := d.wrap(err)
	if got := storeError(wrapped); got != wrapped {
		return got
	}
	return err
}

// Rebind returns query with its placeholders in the engine's form: for
// $N engines, ?N becomes $N and a bare ? the number after the largest one
// so far (SQLite's rule), outside quoted text. The result is cached, so a
// query string is rewritten once.
func (d *Dialect) Rebind(query string) string {
	if !d.DollarPlaceholders {
		return query
	}
	if q, ok := d.rebound.Load(query); ok {
		return q.(string)
	}
	q := rebind(query)
	d.rebound.Store(query, q)
	return q
}

func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	largest := 0
	var quote byte // the quote character we are inside, 0 when none
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote reopens at once
			}
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			n := largest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(query[i+1 : j])
			}
			largest = max(largest, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
