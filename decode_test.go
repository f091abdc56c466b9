package keygate

import "testing"

func TestDecodeJSONNamesTheFieldNeverTheValue(t *testing.T) {
	tests := []struct {
		name, body, whole, want string
	}{
		{"an unknown field", `{"name":"a","colour":"red"}`, "request body", `unknown field "colour"`},
		{"a field of the wrong type", `{"name":"a","retries":"lots"}`, "request body", "retries: must be an integer in range"},
		{"the whole of the wrong type", `["x"]`, "request body", "request body: must be an object"},
		{"the whole of the wrong type, unnamed", `["x"]`, "", "must be an object"},
		{"trailing data", `{"name":"a"} {}`, "request body", "request body: unexpected data after the JSON value"},
		{"cut short", `{"name":"a"`, "request body", "request body: malformed JSON: unexpected end"},
		{"a field's own refusal", `{"name":"a","healthcheck":{"paht":"/"}}`, "", `unknown field "paht"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeJSON([]byte(tt.body), NewService(), tt.whole)
			if ErrorCode(err) != EINVALID || ErrorMessage(err) != tt.want {
				t.Errorf("DecodeJSON: %v, want EINVALID %q", err, tt.want)
			}
		})
	}
}
