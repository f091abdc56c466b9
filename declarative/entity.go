package declarative

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	"github.com/keygate/keygate"
)

// Kind is one kind of entity a document holds.
type Kind string

const (
	KindService  Kind = "service"
	KindRoute    Kind = "route"
	KindPlan     Kind = "plan"
	KindConsumer Kind = "consumer"
)

// kinds lists the kinds in dependency order: each may refer only to those
// before it (a route to its service, a plan to routes, a consumer to a plan).
var kinds = []Kind{KindService, KindRoute, KindPlan, KindConsumer}

// section is the document key that lists entities of kind k.
func (k Kind) section() string { return string(k) + "s" }

// entity is what every kind's domain type offers.
type entity interface {
	Validate() error
	Normalize()
}

// newEntity returns an entity of kind k with the admin API's defaults,
// ready to be decoded into, as the API's create handlers do.
func newEntity(k Kind) entity {
	switch k {
	case KindService:
		return keygate.NewService()
	case KindRoute:
		return keygate.NewRoute()
	case KindPlan:
		return keygate.NewPlan()
	default:
		return keygate.NewConsumer()
	}
}

// nameOf is the name an entity is known by in a document: its name, or for
// a consumer its username (custom_id: and the custom id when it has none).
func nameOf(e entity) string {
	switch v := e.(type) {
	case *keygate.Service:
		return v.Name
	case *keygate.Route:
		return v.Name
	case *keygate.Plan:
		return v.Name
	case *keygate.Consumer:
		if v.Username == "" && v.CustomID != "" {
			return "custom_id:" + v.CustomID
		}
		return v.Username
	}
	return ""
}

// serverFields are set by keygate, never by a document.
var serverFields = []string{"id", "created_at", "updated_at"}

// fieldsOf encodes e as its JSON fields, without the server's, each value
// in a canonical form (object keys sorted) so that two can be compared as
// bytes.
func fieldsOf(e entity) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
		out[k] = b
	}
	for _, f := range serverFields {
		delete(out, f)
	}
	return out, nil
}

// decodeStrict decodes one JSON value into v as the admin API does:
// unknown fields and trailing data are refused.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the value")
	}
	return nil
}

// jsonError words encoding/json's errors as the admin API does: the field,
// then what is wrong, never the value.
func jsonError(err error) error {
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return errors.New("must be " + kindName(e.Type))
		}
		return errors.New(e.Field + ": must be " + kindName(e.Type))
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errors.New("unknown field " + msg)
	}
	if e, ok := errors.AsType[*keygate.Error](err); ok {
		return errors.New(keygate.ErrorMessage(e))
	}
	return errors.New("invalid value")
}

// kindName names what a Go type takes in JSON, as the admin API does.
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
