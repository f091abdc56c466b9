package declarative_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/declarative"
)

func TestParseRefusesInvalidFilesWithLineNumbers(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // each a line of the error
	}{
		{"not yaml", "services: [", []string{"config.yaml: "}},
		{"not a mapping", "- a\n- b\n", []string{"config.yaml:1: the document must be a mapping"}},
		{"unknown section", "services: []\nupstreams: []\n", []string{"config.yaml:2: upstreams: unknown section"}},
		{"section not a list", "plans:\n  name: x\n", []string{"config.yaml:2: plans: must be a list"}},
		{"invalid route path", `
services:
- name: orders
  url: http://orders:8080
routes:
- name: r1
  service: orders
  paths:
  - /ok
  - no-slash
`, []string{"config.yaml:10: routes[0].paths[1]: must start with /"}},
		{"unknown field", `
services:
- name: orders
  url: http://orders:8080
  colour: blue
`, []string{"config.yaml:5: services[0].colour: unknown field"}},
		{"unknown field in a nested object", `
routes:
- name: r1
  service: s
  paths: [/a]
  key_auth:
    key_names: [k]
    key_in_body: true
`, []string{"config.yaml:8: routes[0].key_in_body: unknown field"}},
		{"wrong type", `
services:
- name: orders
  url: http://orders:8080
  retries: many
`, []string{"config.yaml:5: services[0].retries: must be an integer in range"}},
		{"server field", `
consumers:
- username: acme
  id: 5b1c7e51-3cd0-4b53-9b2e-95e4f4b4a8b0
`, []string{"config.yaml:4: consumers[0].id: set by keygate; leave it out"}},
		{"nested route names its service", `
services:
- name: orders
  url: http://orders:8080
  routes:
  - name: r1
    service: billing
    paths: [/a]
`, []string{"config.yaml:7: services[0].routes[0].service: a route listed under a service belongs to it"}},
		{"duplicate name", `
plans:
- name: gold
- name: silver
- name: gold
`, []string{"config.yaml:5: plans[2]: plan \"gold\" is also declared at line 3"}},
		{"duplicate key", `
consumers:
- username: acme
  username: acme2
`, []string{"config.yaml:4: consumers[0]: username: given twice"}},
		{"every invalid entity is reported", `
services:
- name: a
- name: b
  url: ftp://b
`, []string{"config.yaml:3: services[0].url: required", "config.yaml:5: services[1].url: scheme must be http or https"}},
		{"target weight out of range", `
services:
- name: a
  targets:
  - url: http://a1
    weight: 5000
`, []string{"config.yaml:6: services[0].targets[0].weight: must be between 0 and 1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := declarative.Parse("config.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatal("parsed an invalid document")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], want)
				}
			}
		})
	}
}

func TestParseFillsTheAPIsDefaults(t *testing.T) {
	d := parse(t, `
_comment: sections starting with _ are for people
services:
- name: orders
  url: http://orders:8080
  routes:
  - name: r1
    paths: [/a]
    key_auth: {}
routes:
plans: []
`)
	s, r := d.Services[0], d.Routes[0]
	if s.ConnectTimeout != 60_000 || s.Retries != 5 || len(s.Targets) != 1 {
		t.Errorf("service defaults not filled in: %+v", s)
	}
	if r.Service.Name != "orders" || !r.StripPath || r.KeyAuth == nil || r.KeyAuth.KeyNames[0] != "apikey" {
		t.Errorf("route defaults not filled in: %+v %+v", r, r.KeyAuth)
	}
	for _, k := range []declarative.Kind{declarative.KindService, declarative.KindRoute, declarative.KindPlan} {
		if !d.Sections[k] {
			t.Errorf("section %s not recorded", k)
		}
	}
	if d.Sections[declarative.KindConsumer] {
		t.Error("consumers recorded as a section, but the file has none")
	}
}

func TestParseRefusesAliasBombs(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g"} {
		doc += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	doc = "_anchors:\n" + indent(doc) + "consumers:\n- username: bomb\n  tags: *g\n"
	_, err := declarative.Parse("config.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "too large or too deeply nested") {
		t.Errorf("got %v", err)
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
