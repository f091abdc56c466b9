package keygate

import (
	"strings"
	"testing"
)

func TestValidateOpenAPI(t *testing.T) {
	for _, tt := range []struct{ name, doc, err string }{
		{"none", "", ""},
		{"openapi 3", `{"openapi":"3.1.0","paths":{}}`, ""},
		{"swagger 2", `{"swagger":"2.0","paths":{"/a":{}}}`, ""},
		{"yaml", "openapi: 3.1.0\npaths: {}\n", "not a JSON OpenAPI document"},
		{"no version", `{"paths":{}}`, "names no version"},
		{"no paths", `{"openapi":"3.0.0"}`, "no \"paths\""},
		{"too large", `{"openapi":"3.0.0","paths":{},"x":"` + strings.Repeat("a", MaxOpenAPISize) + `"}`, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateOpenAPI(tt.doc)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("ValidateOpenAPI: %v, want %q", err, tt.err)
			}
		})
	}
}
