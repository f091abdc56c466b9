package keygate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
)

// DecodeJSON decodes one JSON value into v as the admin API takes a body,
// and as declarative files are read: unknown fields and trailing data are
// refused, and every error is EINVALID with a message that names the field
// and what it must be, never the value. whole names the value in messages
// about it as a whole ("request body"); empty, they have no prefix.
func DecodeJSON(b []byte, v any, whole string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, whole)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid(whole, "unexpected data after the JSON value")
	}
	return nil
}

func jsonError(err error, whole string) error {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalid(whole, "malformed JSON at byte %d: %s", e.Offset, e.Error())
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return invalid(whole, "must be %s", kindName(e.Type))
		}
		return Errorf(EINVALID, "%s: must be %s", e.Field, kindName(e.Type))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid(whole, "malformed JSON: unexpected end")
	}
	// A field's own decoding (a Ref, say) says what is wrong itself.
	if e, ok := errors.AsType[*Error](err); ok {
		return Errorf(EINVALID, "%s", ErrorMessage(e))
	}
	// encoding/json has no type for this one; its message names the field.
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return Errorf(EINVALID, "unknown field %s", msg)
	}
	return invalid(whole, "invalid value")
}

func invalid(whole, format string, args ...any) error {
	if whole != "" {
		format = whole + ": " + format
	}
	return Errorf(EINVALID, format, args...)
}

// kindName names what a Go type takes in JSON.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return kindName(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
