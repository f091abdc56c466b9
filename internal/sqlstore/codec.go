package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// scanner is a *Row or *Rows.
type scanner interface{ Scan(dest ...any) error }

// encodeList stores a list as a JSON array; nil becomes [] so that readers
// never have to tell "none" from "unset".
func encodeList(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(list) // a []string always marshals
	return string(b)
}

// listColumn scans a JSON array column into an empty, non-nil slice at least.
type listColumn struct{ dst *[]string }

func (c listColumn) Scan(src any) error {
	*c.dst = []string{}
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		if v == "[]" { // most lists are empty: skip the decoder on the gateway's read path
			return nil
		}
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column: unexpected %T", src)
	}
	return json.Unmarshal(b, c.dst)
}

func listCol(dst *[]string) listColumn { return listColumn{dst} }

// encodeJSON stores an optional config object, NULL when v is nil.
func encodeJSON[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode: %w", err)
	}
	return string(b), nil
}

// jsonColumn scans a nullable JSON object column into a pointer left nil on NULL.
type jsonColumn[T any] struct{ dst **T }

func (c jsonColumn[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.dst = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("json column: unexpected %T", src)
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	*c.dst = v
	return nil
}

// micros converts a time to the stored unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is micros for an optional time.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// normalize returns t as it comes back from the store: UTC, to the microsecond.
func normalize(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// timeColumn scans unix microseconds into a UTC time.
type timeColumn struct{ dst *time.Time }

func (c timeColumn) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column: unexpected %T", src)
	}
	*c.dst = time.UnixMicro(v).UTC()
	return nil
}

// nullTimeColumn scans nullable unix microseconds, leaving nil on NULL.
type nullTimeColumn struct{ dst **time.Time }

func (c nullTimeColumn) Scan(src any) error {
	if src == nil {
		*c.dst = nil
		return nil
	}
	var t time.Time
	if err := (timeColumn{&t}).Scan(src); err != nil {
		return err
	}
	*c.dst = &t
	return nil
}

func timestamps(ts *keygate.Timestamps) (created, updated timeColumn) {
	return timeColumn{&ts.CreatedAt}, timeColumn{&ts.UpdatedAt}
}

// nullString stores "" as NULL, for optional unique columns.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullStringColumn reads NULL as "".
type nullStringColumn struct{ dst *string }

func (c nullStringColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = ""
	case string:
		*c.dst = v
	case []byte:
		*c.dst = string(v)
	default:
		return fmt.Errorf("store: cannot read %T as text", src)
	}
	return nil
}

// constraint returns the kind of a constraint violation and, for unique
// ones, the column it is about when known (NoConstraint when err is
// something else). The column only picks which field an error message names.
func constraint(err error) (Constraint, string) {
	c := classOf(err)
	return c.Constraint, c.Column
}

// notFound is the error of a read of one row: sql.ErrNoRows becomes the
// application's ENOTFOUND, anything else goes through storeError.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return keygate.Errorf(keygate.ENOTFOUND, format, args...)
	}
	return storeError(fmt.Errorf("store: %w", err))
}

// byRef returns the condition and argument that find an entity by id when
// ref looks like one, else by its unique name column.
func byRef(ref, nameCol string) (where string, arg string) {
	if keygate.LooksLikeID(ref) {
		return "id = ?", strings.ToLower(ref) // ids are stored in canonical lower case
	}
	return nameCol + " = ?", ref
}

// refColumn scans a nullable id column into a Ref holding the id, left nil
// on NULL.
type refColumn struct{ dst **keygate.Ref }

func (c refColumn) Scan(src any) error {
	var id string
	if err := (nullStringColumn{&id}).Scan(src); err != nil {
		return err
	}
	if id == "" {
		*c.dst = nil
		return nil
	}
	*c.dst = &keygate.Ref{ID: id}
	return nil
}

// nullRef is the stored id of an optional, resolved Ref.
func nullRef(r *keygate.Ref) any {
	if r == nil {
		return nil
	}
	return nullString(r.ID)
}

// boolPtrColumn scans a NOT NULL boolean (SQLite's 0/1, PostgreSQL's
// boolean) into an optional one, always set.
type boolPtrColumn struct{ dst **bool }

func (c boolPtrColumn) Scan(src any) error {
	var b bool
	switch v := src.(type) {
	case bool:
		b = v
	case int64:
		b = v != 0
	default:
		return fmt.Errorf("store: cannot read %T as a boolean", src)
	}
	*c.dst = &b
	return nil
}

// enabledArg is the stored form of an optional enabled flag (nil: true).
func enabledArg(b *bool) bool { return keygate.IsEnabled(b) }

// metaColumn scans a nullable JSON text column into raw JSON (nil on NULL).
type metaColumn struct{ dst *json.RawMessage }

func (c metaColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = nil
	case string:
		*c.dst = json.RawMessage(v)
	case []byte:
		*c.dst = json.RawMessage(append([]byte(nil), v...))
	default:
		return fmt.Errorf("store: cannot read %T as JSON", src)
	}
	return nil
}

// metaArg is the stored form of meta: NULL for none.
func metaArg(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// creditsColumns scan credits_remaining, credits_refill and
// credits_refilled_at, in that order, into one optional Credits: NULL
// remaining is none.
func creditsColumns(dst **keygate.Credits) []any {
	return []any{creditsRemaining{dst}, creditsRefill{dst}, creditsRefilledAt{dst}}
}

type creditsRemaining struct{ dst **keygate.Credits }

func (c creditsRemaining) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = nil
	case int64:
		*c.dst = &keygate.Credits{Remaining: v}
	default:
		return fmt.Errorf("store: cannot read %T as credits", src)
	}
	return nil
}

type creditsRefill struct{ dst **keygate.Credits }

func (c creditsRefill) Scan(src any) error {
	if *c.dst == nil || src == nil {
		return nil
	}
	return jsonColumn[keygate.CreditRefill]{&(*c.dst).Refill}.Scan(src)
}

type creditsRefilledAt struct{ dst **keygate.Credits }

func (c creditsRefilledAt) Scan(src any) error {
	if *c.dst == nil || src == nil {
		return nil
	}
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("store: cannot read %T as a time", src)
	}
	t := time.UnixMicro(v).UTC()
	(*c.dst).RefilledAt = &t
	return nil
}

// creditsArgs are the stored form of optional credits.
func creditsArgs(c *keygate.Credits) (remaining, refill, refilledAt any, err error) {
	if c == nil {
		return nil, nil, nil, nil
	}
	if refill, err = encodeJSON(c.Refill); err != nil {
		return nil, nil, nil, err
	}
	return c.Remaining, refill, nullMicros(c.RefilledAt), nil
}
