package proxy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

func testRoute(name string, hosts, paths, methods []string) *route {
	return &route{Route: &keygate.Route{Name: name, Hosts: hosts, Paths: paths, Methods: methods}}
}

func TestTableMatch(t *testing.T) {
	routes := []*route{
		testRoute("catch-all", nil, nil, nil),
		testRoute("partner", nil, []string{"/partner"}, nil),
		testRoute("partner-v2", nil, []string{"/partner/v2"}, nil),
		testRoute("partner-post", nil, []string{"/partner"}, []string{"POST"}),
		testRoute("trailing", nil, []string{"/files/"}, nil),
		testRoute("api-host", []string{"api.example.com"}, []string{"/partner"}, nil),
		testRoute("api-port", []string{"api.example.com:8443"}, nil, nil),
		testRoute("wildcard", []string{"*.example.com"}, nil, nil),
		testRoute("deep-wildcard", []string{"*.eu.example.com"}, nil, nil),
	}
	tab := newTable(routes, nil)
	tests := []struct {
		name, host, path, method string
		want, prefix             string
	}{
		{"longest path wins", "gw", "/partner/v2/x", "GET", "partner-v2", "/partner/v2"},
		{"exact path", "gw", "/partner", "GET", "partner", "/partner"},
		{"method-specific route first", "gw", "/partner/x", "POST", "partner-post", "/partner"},
		{"segments only: /partnerx is not /partner", "gw", "/partnerx", "GET", "catch-all", ""},
		{"prefix ending in slash", "gw", "/files/a.txt", "GET", "trailing", "/files/"},
		{"no path falls back to the catch-all", "gw", "/other", "GET", "catch-all", ""},
		{"host route beats hostless route", "api.example.com", "/partner", "GET", "api-host", "/partner"},
		{"host is case-insensitive", "API.Example.com", "/partner", "GET", "api-host", "/partner"},
		{"host with port matches the bare host", "api.example.com:8000", "/partner", "GET", "api-host", "/partner"},
		{"host with its own port", "api.example.com:8443", "/x", "GET", "api-port", ""},
		{"host route without matching path falls to wildcard", "api.example.com", "/x", "GET", "wildcard", ""},
		{"wildcard", "shop.example.com", "/x", "GET", "wildcard", ""},
		{"longest wildcard first", "a.eu.example.com", "/x", "GET", "deep-wildcard", ""},
		{"wildcard does not match the apex", "example.com", "/x", "GET", "catch-all", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, prefix := tab.match(tt.host, tt.path, tt.method)
			if r == nil || r.Name != tt.want || prefix != tt.prefix {
				got := "<none>"
				if r != nil {
					got = r.Name
				}
				t.Fatalf("match(%q, %q, %q) = %s %q, want %s %q", tt.host, tt.path, tt.method, got, prefix, tt.want, tt.prefix)
			}
		})
	}
	if r, _ := newTable(routes[1:2], nil).match("gw", "/elsewhere", "GET"); r != nil {
		t.Fatalf("matched %s, want no route", r.Name)
	}
}

func TestJoinPath(t *testing.T) {
	tests := []struct{ base, rest, want string }{
		{"", "", "/"},
		{"", "/x", "/x"},
		{"/", "/x", "/x"},
		{"/", "x", "/x"},
		{"/api", "", "/api"},
		{"/api", "/x", "/api/x"},
		{"/api/", "/x", "/api/x"},
		{"/api", "x", "/api/x"},
	}
	for _, tt := range tests {
		if got := joinPath(tt.base, tt.rest); got != tt.want {
			t.Errorf("joinPath(%q, %q) = %q, want %q", tt.base, tt.rest, got, tt.want)
		}
	}
}

// parseTarget reads a request target as net/http does, and keeps a path's
// sub-delimiters as sent: "!" forwarded as "%21" would be another URI.
func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		name, uri     string
		path, rawPath string
		ok            bool
	}{
		{"plain", "/a/b?x=1", "/a/b", "", true},
		{"sub-delimiters url.PathEscape leaves", "/a$&+,;=:@b", "/a$&+,;=:@b", "", true},
		{"sub-delimiters url.PathEscape encodes", "/a!b'(c)*", "/a!b'(c)*", "/a!b'(c)*", true},
		{"escaped", "/a%2Fb", "/a/b", "/a%2Fb", true},
		{"absolute form", "http://h/a", "/a", "", true},
		{"a control byte in the query", "/?\x00", "", "", false},
		{"a control byte in the path", "/a\x7f", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseTarget([]byte(tc.uri))
			if ok != tc.ok || got.path != tc.path || got.rawPath != tc.rawPath {
				t.Errorf("parseTarget(%q) = %+v, %v; want path %q rawPath %q, %v", tc.uri, got, ok, tc.path, tc.rawPath, tc.ok)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a/b/", "/a/b/"},
		{"/public/../partner", "/partner"},
		{"/public/./x", "/public/x"},
		{"//partner", "/partner"},
		{"/../../etc", "/etc"},
	}
	for _, tt := range tests {
		if got := cleanPath(tt.in); got != tt.want {
			t.Errorf("cleanPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBadPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/public/x", false},
		{"/a;b/c", false},
		{"/files/report%2epdf", false},
		{"/public/..;/partner", true},
		{"/public/..;jsessionid=1/partner", true},
		{"/public/.;/x", true},
		{"/public/%2e%2e/partner", true},
		{"/public/%2E./partner", true},
		{"/public\\..\\partner", true},
		{"/a\\b", false},
		{"/a\x00b", true},
		{"/a/b\x00", true},
		{"/a%00b", true}, // sent as "%2500"
		{"/a%001", true},
		{"/a%0a", false},
	}
	for _, tt := range tests {
		if got := badPath(tt.path); got != tt.want {
			t.Errorf("badPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestScrub(t *testing.T) {
	var h fasthttp.RequestHeader
	for _, line := range [][2]string{
		{"X-Forwarded-For", "10.0.0.1"},
		{"X-Consumer-ID", "forged"},
		{"X_consumer_id", "forged"},
		{"Accept", "first"},
		{"X_Consumer_Username", "forged"},
		{"X_forwarded_for", "1.2.3.4"},
		{"X-Forwarded-Port", "1"},
		{"Forwarded", "for=1.2.3.4"},
		{"X-Real-IP", "1.2.3.4"},
		{"X_amount", "an unsigned twin of a signed X-Amount"},
		{"X-Consumer-Id x", "cut at the space by a lenient parser"},
		{"X-Consumer-Id.", "forged"},
		{"X-Key-Meta-Tier", "forged"},
		{"x-key-meta-team", "forged"},
		{"Accept", "second"},
		{"X-Amount", "kept"},
		{"X-Forwarded-For", "10.0.0.2"},
	} {
		h.Add(line[0], line[1])
	}
	scrub(&h)
	var got []string
	for name, value := range h.All() {
		got = append(got, string(name)+": "+string(value))
	}
	// Kept in the order sent: two lines of one header mean what they say in order.
	want := []string{"X-Forwarded-For: 10.0.0.1", "Accept: first", "Accept: second", "X-Amount: kept", "X-Forwarded-For: 10.0.0.2"}
	if !slices.Equal(got, want) {
		t.Fatalf("after scrub:\n%q\nwant\n%q", got, want)
	}
}

func TestForwardMeta(t *testing.T) {
	var h fasthttp.RequestHeader
	forwardMeta(&h, `{"team":"payments","n":3,"nested":{"a":[1]},"bad":"a\r\nX-Evil: 1","hidden":"no"}`,
		[]string{"team", "n", "nested", "bad", "absent"})
	var got []string
	for name, value := range h.All() {
		got = append(got, string(name)+": "+string(value))
	}
	slices.Sort(got)
	want := []string{`X-Key-Meta-N: 3`, `X-Key-Meta-Nested: {"a":[1]}`, `X-Key-Meta-Team: payments`}
	if !slices.Equal(got, want) {
		t.Fatalf("forwarded %q, want %q", got, want)
	}
}

// BenchmarkMatch routes among 200 routes: hosts, wildcards and paths.
func BenchmarkMatch(b *testing.B) {
	var routes []*route
	for i := range 100 {
		routes = append(routes,
			testRoute(fmt.Sprintf("p%d", i), nil, []string{fmt.Sprintf("/svc%d", i), fmt.Sprintf("/svc%d/v2", i)}, nil),
			testRoute(fmt.Sprintf("h%d", i), []string{fmt.Sprintf("api%d.example.com", i)}, []string{"/"}, []string{"GET"}))
	}
	tab := newTable(routes, nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if r, _ := tab.match("gw.example.com:8000", "/svc42/v2/orders/7", "GET"); r == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkTableWith patches one route into a table of 10,000 (each on a
// path of its own, the worst case for the copy of the bucket index),
// against building the table whole, which a change used to cost.
func BenchmarkTableWith(b *testing.B) {
	routes := make([]*route, 10000)
	for i := range routes {
		routes[i] = testRoute(fmt.Sprintf("r%d", i), nil, []string{fmt.Sprintf("/r%d", i)}, nil)
		routes[i].ID = fmt.Sprintf("id%05d", i)
	}
	tab := newTable(routes, nil)
	b.Run("patch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			moved := testRoute("moved", nil, []string{fmt.Sprintf("/r%d", i%len(routes))}, []string{"GET"})
			moved.ID = routes[i%len(routes)].ID
			tab.with(routes[i%len(routes):i%len(routes)+1], []*route{moved}, nil)
		}
	})
	b.Run("rebuild", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newTable(routes, nil)
		}
	})
}
