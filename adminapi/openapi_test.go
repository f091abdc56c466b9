package adminapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

// TestOpenAPIServed reads the document as a client does: any role may, and
// it is the committed file.
func TestOpenAPIServed(t *testing.T) {
	e := adminapitest.New(t)
	tokens := roleTokens(t, e)
	file, err := os.ReadFile("openapi.json")
	check(t, err)
	for _, role := range adminapi.Roles() {
		r := request(t, e, "GET", "/v1/openapi.json", "", map[string]string{"Authorization": "Bearer " + tokens[role]})
		if r.status != http.StatusOK || r.body != string(file) || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, %d bytes; want 200 and the file", role, r.status, r.header.Get("Content-Type"), len(r.body))
		}
	}
	request(t, e, "GET", "/v1/openapi.json", "", map[string]string{"Authorization": ""}).wantError(t, 401, keygate.EUNAUTHORIZED, "admin token")
	doc := must[[]byte](t)(e.Client.OpenAPI(t.Context()))
	if string(doc) != strings.TrimSpace(string(file)) {
		t.Error("client.OpenAPI differs from the file")
	}
}

// TestOpenAPICoversTheAPI checks the document against the running handler:
// every registered route is in it and every documented operation is
// registered; the main resources' schemas have exactly their types' JSON
// fields; every reference resolves.
func TestOpenAPICoversTheAPI(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	check(t, err)
	var doc openAPIDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}

	e := adminapitest.New(t)
	routes := e.Server.Routes()
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[pattern][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in openapi.json", route)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !slices.Contains(routes, strings.ToUpper(method)+" "+path) {
				t.Errorf("openapi.json documents %s %s, which is not registered", strings.ToUpper(method), path)
			}
		}
	}

	resources := map[string]any{
		"Service": keygate.Service{}, "Route": keygate.Route{}, "Consumer": keygate.Consumer{}, "APIKey": keygate.APIKey{},
		"Plan": keygate.Plan{}, "OAuthClient": keygate.OAuthClient{}, "HMACCredential": keygate.HMACCredential{},
		"AdminToken": keygate.AdminToken{}, "AuditEvent": keygate.AuditEvent{}, "Webhook": keygate.Webhook{},
		"AccessRequest": keygate.AccessRequest{}, "AccessRule": keygate.AccessRule{},
		"VerifyRequest": keygate.VerifyRequest{}, "VerifyResponse": keygate.VerifyResponse{},
	}
	for name, v := range resources {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("no schema %s", name)
			continue
		}
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range s.Properties {
				if !yield(k) {
					return
				}
			}
		})
		want := jsonNames(reflect.TypeOf(v))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties\n %v\nthe type has JSON fields\n %v", name, got, want)
		}
	}

	for _, ref := range regexpAll(string(b), `"\$ref": "#/components/schemas/([^"]+)"`) {
		if _, ok := doc.Components.Schemas[ref]; !ok {
			t.Errorf("$ref to a missing schema %s", ref)
		}
	}
}

// jsonNames are the names encoding/json gives t's fields.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonNames(f.Type)...)
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

func regexpAll(s, expr string) []string {
	var out []string
	for _, m := range regexp.MustCompile(expr).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
