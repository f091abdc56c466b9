package declarative

import (
	"encoding/json"

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

// decodeStrict decodes one JSON value into v as the admin API does, with
// its messages: the field and what is wrong, never the value.
func decodeStrict(b []byte, v any) error { return keygate.DecodeJSON(b, v, "") }
