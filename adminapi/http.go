package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// eMethodNotAllowed is the code of a 405. It is HTTP's business, so it lives
// here rather than among the domain's codes.
const eMethodNotAllowed = "METHOD_NOT_ALLOWED"

var statuses = map[string]int{
	keygate.EINVALID:      http.StatusBadRequest,
	keygate.ENOTFOUND:     http.StatusNotFound,
	keygate.ECONFLICT:     http.StatusConflict,
	keygate.EUNAUTHORIZED: http.StatusUnauthorized,
	keygate.EFORBIDDEN:    http.StatusForbidden,
	keygate.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	keygate.EUNAVAILABLE:  http.StatusServiceUnavailable,
	keygate.EINTERNAL:     http.StatusInternalServerError,
	eMethodNotAllowed:     http.StatusMethodNotAllowed,
}

// error writes err as the API's error body. It is the only place errors
// become responses. Internal errors, and application errors with a cause
// (a dependency's failure), are logged with their detail; the client gets
// the message and the request id only.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := keygate.ErrorCode(err), keygate.ErrorMessage(err)
	status, ok := statuses[code]
	if !ok {
		code, msg, status = keygate.EINTERNAL, "internal error", http.StatusInternalServerError
	}
	if e, isApp := errors.AsType[*keygate.Error](err); code == keygate.EINTERNAL || isApp && e.Cause != nil {
		s.logger().LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("code", code),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if code == keygate.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	if code == keygate.EFORBIDDEN {
		s.auditDenied(r, msg)
	}
	body := keygate.ErrorResponse{Error: keygate.ErrorDetail{Code: code, Message: msg, RequestID: requestID(r.Context())}}
	if err := reply(w, status, body); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// reply writes v as JSON. It encodes before writing anything, so an encoding
// error can still become a proper error response.
func reply(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the client went away; nothing to tell it
	return nil
}

// maxBody is the largest request body read.
const maxBody = 1 << 20

// readBody reads a request body that must hold one JSON object and returns
// it with its top-level fields. Fields only the server sets are refused
// rather than ignored, so a client never believes it set them.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, nil, keygate.Errorf(keygate.ETOOLARGE, "request body: larger than %d bytes", maxBody)
	} else if err != nil {
		return nil, nil, keygate.Errorf(keygate.EINVALID, "request body: could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, keygate.Errorf(keygate.EINVALID, "request body: empty, a JSON object is required")
	}
	var fields map[string]json.RawMessage
	if err := decode(body, &fields); err != nil {
		return nil, nil, err
	}
	if fields == nil { // the body was null
		return nil, nil, keygate.Errorf(keygate.EINVALID, "request body: must be a JSON object")
	}
	for _, f := range []string{"id", "created_at", "updated_at"} {
		if _, ok := fields[f]; ok {
			return nil, nil, keygate.Errorf(keygate.EINVALID, "%s: read-only", f)
		}
	}
	return body, fields, nil
}

// decodeBody reads the request body into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, _, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decode(body, v)
}

// decodeWithExpiry decodes a request body that may hold expires_at:
// encoding/json reports a bad time without naming the field, so it is
// checked first.
func decodeWithExpiry(w http.ResponseWriter, r *http.Request, v any) error {
	body, fields, err := readBody(w, r)
	if err != nil {
		return err
	}
	if raw, ok := fields["expires_at"]; ok {
		var t *time.Time
		if json.Unmarshal(raw, &t) != nil {
			return keygate.Errorf(keygate.EINVALID, "expires_at: must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
	}
	return decode(body, v)
}

// decode decodes one JSON value from body into v, refusing unknown fields
// and trailing data. Its errors name the field and never echo a value.
func decode(body []byte, v any) error { return keygate.DecodeJSON(body, v, "request body") }

// page reads Kong's paging parameters: size and offset (a cursor).
func page(r *http.Request) (keygate.Page, error) {
	q := r.URL.Query()
	p := keygate.Page{After: q.Get("offset"), Limit: keygate.DefaultPageSize}
	if q.Has("size") {
		n, err := strconv.Atoi(q.Get("size"))
		if err != nil || n < 1 || n > keygate.MaxPageSize {
			return p, keygate.Errorf(keygate.EINVALID, "size: must be an integer from 1 to %d", keygate.MaxPageSize)
		}
		p.Limit = n
	}
	return p, nil
}

type lister[T any] func(context.Context, keygate.Page) ([]T, string, error)

// replyList answers a list request with one page from fetch.
func replyList[T any](w http.ResponseWriter, r *http.Request, fetch lister[T]) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := fetch(r.Context(), p)
	if err != nil {
		return err
	}
	l := keygate.List[T]{Data: items, Offset: next}
	if l.Data == nil {
		l.Data = []T{}
	}
	if next != "" {
		q := r.URL.Query() // the next page keeps the filters of this one
		q.Set("offset", next)
		q.Set("size", strconv.Itoa(p.Limit))
		u := r.URL.Path + "?" + q.Encode()
		l.Next = &u
	}
	return reply(w, http.StatusOK, l)
}

// Generic handlers for entities that need nothing beyond the store.

type validator interface{ Validate() error }

func create[T validator](newT func() T, store func(context.Context, T) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v := newT()
		if err := decodeBody(w, r, v); err != nil {
			return err
		}
		if err := v.Validate(); err != nil {
			return err
		}
		if err := store(r.Context(), v); err != nil {
			// The URL names a collection, so whatever the store could not
			// find (a consumer's plan, a plan's route) the body named.
			return refInBody(err)
		}
		return reply(w, http.StatusCreated, v)
	}
}

func list[T any](fetch lister[T]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error { return replyList(w, r, fetch) }
}

func get[T any](param string, find func(context.Context, string) (T, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := find(r.Context(), r.PathValue(param))
		if err != nil {
			return err
		}
		return reply(w, http.StatusOK, v)
	}
}

// update decodes the patch onto the stored value inside the store's
// transaction, so a concurrent change is never lost, then validates.
func update[T validator](param string, store func(context.Context, string, func(T) error) (T, error)) handlerFunc {
	return updateWith(param, store, nil)
}

// updateWith is update with prepare, if set, readying the stored value for
// the patch. References in the body (a consumer's plan, a plan's routes)
// are resolved by the store in its transaction: once the entity at the URL
// was found, one the store cannot find is the body's fault (400), not a
// missing resource (404).
func updateWith[T validator](param string, store func(context.Context, string, func(T) error) (T, error), prepare func(T, map[string]json.RawMessage)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, fields, err := readBody(w, r)
		if err != nil {
			return err
		}
		found := false
		v, err := store(r.Context(), r.PathValue(param), func(v T) error {
			found = true
			clearNulls(v, fields)
			if prepare != nil {
				prepare(v, fields)
			}
			if err := decode(body, v); err != nil {
				return err
			}
			return v.Validate()
		})
		if err != nil && found {
			return refInBody(err)
		}
		if err != nil {
			return err
		}
		return reply(w, http.StatusOK, v)
	}
}

// refInBody reports a reference in a request body that the store could not
// find (its message names the field: "plan: no plan ...") as the body's
// fault (400), not as a missing resource at the URL (404).
func refInBody(err error) error {
	if keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return err
	}
	return keygate.Errorf(keygate.EINVALID, "%s", keygate.ErrorMessage(err))
}

// hasField reports whether a body sets field, matched as encoding/json
// matches it: case-insensitively.
func hasField(fields map[string]json.RawMessage, field string) bool {
	for k := range fields {
		if strings.EqualFold(k, field) {
			return true
		}
	}
	return false
}

// clearNulls zeroes each field of the struct v points to that the patch
// sets to null. encoding/json leaves a string, number or bool as it was on
// null, which made {"username": null} a silent no-op; now null unsets a
// field, and Validate says whether the entity may go without it (a consumer
// keeps a username or a custom_id; a service needs its url).
func clearNulls(v any, fields map[string]json.RawMessage) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if !f.IsExported() || f.Anonymous {
			continue // the embedded timestamps are read-only anyway
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		for key, raw := range fields {
			// encoding/json matches keys case-insensitively; so must this.
			if strings.EqualFold(key, name) && string(bytes.TrimSpace(raw)) == "null" {
				rv.Field(i).SetZero()
			}
		}
	}
}

func remove(param string, del func(context.Context, string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := del(r.Context(), r.PathValue(param)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
