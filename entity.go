package keygate

import (
	"bytes"
	"encoding/json"
	"time"
)

// Page asks a List method for up to Limit items after the cursor After.
// The List method returns the cursor of the next page, or "" after the last one.
type Page struct {
	After string
	Limit int
}

// Page sizes, as Kong's: 100 by default, 1000 at most.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Ref points at another entity by id or by unique name. In JSON it is written
// as {"id": "..."} and read from either that, {"name": "..."} or a bare string,
// so Kong's request bodies work unchanged.
type Ref struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// String returns whichever of ID and Name is set, for lookups that accept both.
func (r Ref) String() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Name
}

// IsZero reports whether r points nowhere.
func (r Ref) IsZero() bool { return r.ID == "" && r.Name == "" }

func (r *Ref) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = Ref{Name: s}
		return nil
	}
	type plain Ref
	var p plain // decoded afresh, so a PATCH naming the service by name drops the old id
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*r = Ref(p)
	return nil
}

// decodeStrict decodes JSON refusing unknown fields: a custom UnmarshalJSON
// does not inherit the outer decoder's DisallowUnknownFields.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// Timestamps every stored entity carries.
type Timestamps struct {
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// orEmpty returns list, or an empty list for nil.
func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
