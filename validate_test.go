package keygate_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// wantInvalid checks that err is EINVALID about field (its message starts
// with "field: "), or that err is nil when field is "".
func wantInvalid(tb testing.TB, err error, field string) {
	tb.Helper()
	switch {
	case field == "" && err != nil:
		tb.Errorf("error = %v, want none", err)
	case field == "":
	case keygate.ErrorCode(err) != keygate.EINVALID:
		tb.Errorf("error = %v, want %s about %s", err, keygate.EINVALID, field)
	case !strings.HasPrefix(keygate.ErrorMessage(err), field+": "):
		tb.Errorf("message %q does not name %s", keygate.ErrorMessage(err), field)
	}
}

func validConsumer() *keygate.Consumer {
	c := keygate.NewConsumer()
	c.Username, c.CustomID, c.Groups, c.Tags = "acme", "crm-4711", []string{"partners"}, []string{"eu"}
	return c
}

func validService() *keygate.Service {
	s := keygate.NewService()
	s.Name, s.URL, s.Tags = "orders", "http://orders.internal:8080/api", []string{"team-a"}
	return s
}

func validHMACRequest() *keygate.HMACCredentialRequest {
	return &keygate.HMACCredentialRequest{Username: "acme-signer", Secret: strings.Repeat("s3cr3t-", 5), Tags: []string{"ci"}}
}

func validRoute() *keygate.Route {
	r := keygate.NewRoute()
	r.Name, r.Service, r.Paths, r.Tags = "orders", keygate.Ref{Name: "orders"}, []string{"/orders"}, []string{"public"}
	r.KeyAuth = keygate.NewKeyAuthConfig()
	r.ACL = &keygate.ACLConfig{Allow: []string{"partners"}}
	return r
}

// TestControlCharacters checks that every field that can reach an upstream
// header (or a log line) refuses ASCII control characters.
func TestControlCharacters(t *testing.T) {
	for _, ctl := range []string{"\x00", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"} {
		tests := []struct {
			name     string
			validate func() error
			field    string
		}{
			{"consumer username", func() error { c := validConsumer(); c.Username = "ac" + ctl + "me"; return c.Validate() }, "username"},
			{"consumer custom_id", func() error { c := validConsumer(); c.CustomID = "crm" + ctl; return c.Validate() }, "custom_id"},
			{"consumer group", func() error { c := validConsumer(); c.Groups = []string{"gold", ctl + "x"}; return c.Validate() }, "groups[1]"},
			{"consumer tag", func() error { c := validConsumer(); c.Tags = []string{"x" + ctl}; return c.Validate() }, "tags[0]"},
			{"service name", func() error { s := validService(); s.Name = "o" + ctl; return s.Validate() }, "name"},
			{"service tag", func() error { s := validService(); s.Tags = []string{ctl}; return s.Validate() }, "tags[0]"},
			{"route name", func() error { r := validRoute(); r.Name = ctl + "r"; return r.Validate() }, "name"},
			{"route tag", func() error { r := validRoute(); r.Tags = []string{"a" + ctl + "b"}; return r.Validate() }, "tags[0]"},
			{"route acl group", func() error { r := validRoute(); r.ACL.Allow = []string{"p" + ctl}; return r.Validate() }, "acl.allow[0]"},
			{"route anonymous consumer", func() error { r := validRoute(); r.KeyAuth.Anonymous = "guest" + ctl; return r.Validate() }, "key_auth.anonymous"},
			{"route path", func() error { r := validRoute(); r.Paths = []string{"/a" + ctl}; return r.Validate() }, "paths[0]"},
			{"key name", func() error { k := &keygate.APIKey{Name: "ci" + ctl}; return k.ValidateRestrictions() }, "name"},
			{"key tag", func() error { k := &keygate.APIKey{Tags: []string{ctl + "ci"}}; return k.ValidateRestrictions() }, "tags[0]"},
			{"hmac credential username", func() error { r := validHMACRequest(); r.Username = "ac" + ctl + "me"; return r.Validate() }, "username"},
			{"hmac credential secret", func() error { r := validHMACRequest(); r.Secret = r.Secret[1:] + ctl; return r.Validate() }, "secret"},
			{"hmac credential tag", func() error { r := validHMACRequest(); r.Tags = []string{"x" + ctl}; return r.Validate() }, "tags[0]"},
			{"route hmac realm", func() error {
				r := validRoute()
				r.HMACAuth = keygate.NewHMACAuthConfig()
				r.HMACAuth.Realm = "k" + ctl
				return r.Validate()
			}, "hmac_auth.realm"},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s with %q", tt.name, ctl), func(t *testing.T) { wantInvalid(t, tt.validate(), tt.field) })
		}
	}

	t.Run("the valid entities are valid", func(t *testing.T) {
		wantInvalid(t, validConsumer().Validate(), "")
		wantInvalid(t, validService().Validate(), "")
		wantInvalid(t, validRoute().Validate(), "")
	})
	t.Run("non-ASCII custom_id is fine", func(t *testing.T) {
		c := validConsumer()
		c.CustomID = "kunde-müller"
		wantInvalid(t, c.Validate(), "")
	})
}

// TestIdentityTextFields checks that every identity field and name refuses
// the characters of textProblem beyond ASCII controls — C1 controls, line
// and paragraph separators, bidi overrides, zero-width characters, a BOM —
// and invalid UTF-8, naming the field and the character, while non-ASCII
// text such as Zoë or 東京 stays valid where non-ASCII was valid before.
func TestIdentityTextFields(t *testing.T) {
	rule := func() *keygate.AccessRule {
		return &keygate.AccessRule{Name: "partners", Plan: "gold", ConsumerGroups: []string{"partners"}, Services: []string{"orders"}}
	}
	request := func() *keygate.AccessRequestInput {
		return &keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "acme"}, Services: []string{"orders"}, Plan: "gold"}
	}
	withHMAC := func(edit func(*keygate.HMACAuthConfig)) error {
		r := validRoute()
		r.HMACAuth = keygate.NewHMACAuthConfig()
		edit(r.HMACAuth)
		return r.Validate()
	}
	fields := []struct {
		name     string
		validate func(v string) error // v is a valid value with the character in it
		field    string
	}{
		{"consumer username", func(v string) error { c := validConsumer(); c.Username = v; return c.Validate() }, "username"},
		{"consumer custom_id", func(v string) error { c := validConsumer(); c.CustomID = v; return c.Validate() }, "custom_id"},
		{"consumer group", func(v string) error { c := validConsumer(); c.Groups = []string{"gold", v}; return c.Validate() }, "groups[1]"},
		{"consumer tag", func(v string) error { c := validConsumer(); c.Tags = []string{v}; return c.Validate() }, "tags[0]"},
		{"service name", func(v string) error { s := validService(); s.Name = v; return s.Validate() }, "name"},
		{"service tag", func(v string) error { s := validService(); s.Tags = []string{v}; return s.Validate() }, "tags[0]"},
		{"route name", func(v string) error { r := validRoute(); r.Name = v; return r.Validate() }, "name"},
		{"route tag", func(v string) error { r := validRoute(); r.Tags = []string{v}; return r.Validate() }, "tags[0]"},
		{"route acl group", func(v string) error { r := validRoute(); r.ACL.Allow = []string{v}; return r.Validate() }, "acl.allow[0]"},
		{"route key_auth anonymous", func(v string) error { r := validRoute(); r.KeyAuth.Anonymous = v; return r.Validate() }, "key_auth.anonymous"},
		{"route hmac_auth anonymous", func(v string) error { return withHMAC(func(h *keygate.HMACAuthConfig) { h.Anonymous = v }) }, "hmac_auth.anonymous"},
		{"route hmac_auth realm", func(v string) error { return withHMAC(func(h *keygate.HMACAuthConfig) { h.Realm = v }) }, "hmac_auth.realm"},
		{"plan name", func(v string) error { p := keygate.NewPlan(); p.Name = v; return p.Validate() }, "name"},
		{"plan tag", func(v string) error {
			p := keygate.NewPlan()
			p.Name, p.Tags = "gold", []string{v}
			return p.Validate()
		}, "tags[0]"},
		{"key name", func(v string) error { k := &keygate.APIKey{Name: v}; return k.ValidateRestrictions() }, "name"},
		{"key tag", func(v string) error { k := &keygate.APIKey{Tags: []string{v}}; return k.ValidateRestrictions() }, "tags[0]"},
		{"hmac credential username", func(v string) error { r := validHMACRequest(); r.Username = v; return r.Validate() }, "username"},
		{"hmac credential tag", func(v string) error { r := validHMACRequest(); r.Tags = []string{v}; return r.Validate() }, "tags[0]"},
		{"access rule name", func(v string) error { r := rule(); r.Name = v; return r.Validate() }, "name"},
		{"access rule plan", func(v string) error { r := rule(); r.Plan = v; return r.Validate() }, "plan"},
		{"access rule group", func(v string) error { r := rule(); r.ConsumerGroups = []string{v}; return r.Validate() }, "consumer_groups[0]"},
		{"access rule service", func(v string) error { r := rule(); r.Services = []string{v}; return r.Validate() }, "services[0]"},
		{"access request plan", func(v string) error { r := request(); r.Plan = v; return r.Validate() }, "plan"},
		{"access request route", func(v string) error { r := request(); r.Routes = []string{v}; return r.Validate() }, "routes[0]"},
		{"access decision by", func(v string) error { return keygate.AccessDecision{By: v}.Validate() }, "decided_by"},
	}
	for _, bad := range []struct{ name, char, says string }{
		{"C1 NEL", "\u0085", "U+0085"},
		{"C1 CSI", "\u009b", "U+009B"},
		{"line separator", "\u2028", "U+2028"},
		{"paragraph separator", "\u2029", "U+2029"},
		{"bidi override", "\u202e", "U+202E"},
		{"zero-width space", "\u200b", "U+200B"},
		{"byte order mark", "\ufeff", "U+FEFF"},
		{"invalid UTF-8", "\xff", "UTF-8"},
	} {
		for _, f := range fields {
			t.Run(f.name+" with "+bad.name, func(t *testing.T) {
				err := f.validate("acme" + bad.char + "x")
				wantInvalid(t, err, f.field)
				if msg := keygate.ErrorMessage(err); !strings.Contains(msg, bad.says) {
					t.Errorf("message %q does not say %s", msg, bad.says)
				}
			})
		}
	}
	// Fields that took non-ASCII text before still do; names keep Kong's
	// ASCII set.
	for _, v := range []string{"Zoë", "東京"} {
		for _, f := range fields {
			switch f.field {
			case "custom_id", "groups[1]", "tags[0]", "acl.allow[0]", "key_auth.anonymous", "hmac_auth.anonymous", "hmac_auth.realm",
				"plan", "consumer_groups[0]", "services[0]", "routes[0]", "decided_by":
				t.Run(f.name+" with "+v, func(t *testing.T) { wantInvalid(t, f.validate(v), "") })
			}
		}
	}
}

func TestServiceURLPort(t *testing.T) {
	tests := []struct {
		name, url, field string
	}{
		{"no port", "http://orders.internal/api", ""},
		{"port 1", "http://orders.internal:1", ""},
		{"port 65535", "https://orders.internal:65535/api", ""},
		{"IPv6 with port", "http://[::1]:8080", ""},
		{"port 0", "http://orders.internal:0/api", "url"},
		{"port 65536", "http://orders.internal:65536", "url"},
		{"port far too big", "http://orders.internal:99999999999999999999", "url"},
		{"IPv6 with port 0", "http://[::1]:0", "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService()
			s.URL = tt.url
			wantInvalid(t, s.Validate(), tt.field)
			if tt.field != "" && !strings.Contains(keygate.ErrorMessage(s.Validate()), "port") {
				t.Errorf("message %q does not say what is wrong", keygate.ErrorMessage(s.Validate()))
			}
		})
	}
}

func TestRoutePaths(t *testing.T) {
	tests := []struct {
		name, path string
		valid      bool
	}{
		{"root", "/", true},
		{"one segment", "/orders", true},
		{"nested", "/orders/status", true},
		{"trailing slash", "/orders/", true},
		{"dots inside a segment", "/v1.2/a..b/.well-known", true},
		{"empty segment", "/orders//status", false},
		{"double slash at the start", "//orders", false},
		{"just two slashes", "//", false},
		{"two trailing slashes", "/orders//", false},
		{"dot segment", "/orders/./status", false},
		{"dot-dot segment", "/orders/../admin", false},
		{"trailing dot", "/orders/.", false},
		{"trailing dot-dot", "/orders/..", false},
		{"percent-encoded", "/orders%2Fstatus", false},
		{"a lone percent", "/100%", false},
		{"semicolon", "/orders;jsessionid=1", false},
		{"backslash", "/orders\\status", false},
		{"relative", "orders", false},
		{"query", "/orders?x", false},
		{"space", "/or ders", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRoute()
			r.Paths = []string{"/ok", tt.path}
			field := "paths[1]"
			if tt.valid {
				field = ""
			}
			wantInvalid(t, r.Validate(), field)
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string // the parsed network; "" when refused
		match string // an address (as a client's, unmapped) the network must contain
	}{
		{"IPv4 network", "10.0.0.0/8", "10.0.0.0/8", "10.1.2.3"},
		{"IPv4 host bits masked", "10.1.2.3/8", "10.0.0.0/8", "10.200.0.1"},
		{"IPv4 address", "192.0.2.1", "192.0.2.1/32", "192.0.2.1"},
		{"IPv6 network", "2001:db8::/32", "2001:db8::/32", "2001:db8::1"},
		{"IPv4-mapped network", "::ffff:10.0.0.0/104", "10.0.0.0/8", "10.1.2.3"},
		{"IPv4-mapped /96 is everything IPv4", "::ffff:0.0.0.0/96", "0.0.0.0/0", "203.0.113.9"},
		{"IPv4-mapped /128", "::ffff:192.0.2.1/128", "192.0.2.1/32", "192.0.2.1"},
		{"IPv4-mapped address", "::ffff:192.0.2.1", "192.0.2.1/32", "192.0.2.1"},
		{"IPv4-mapped, hex form", "::ffff:c000:0201/120", "192.0.2.0/24", "192.0.2.77"},
		{"IPv4-mapped shorter than /96", "::ffff:0:0/95", "", ""},
		{"bad prefix length", "10.0.0.0/33", "", ""},
		{"not an address", "example.com", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keygate.ParseCIDRs("allowed_cidrs", []string{"10.9.9.9", tt.in})
			if tt.want == "" {
				wantInvalid(t, err, "allowed_cidrs[1]")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got[1].String() != tt.want {
				t.Errorf("parsed %s, want %s", got[1], tt.want)
			}
			if !got[1].Contains(netip.MustParseAddr(tt.match)) {
				t.Errorf("%s does not contain %s", got[1], tt.match)
			}
		})
	}
}

func TestValidRequestID(t *testing.T) {
	tests := []struct {
		name, id string
		valid    bool
	}{
		{"letters, digits and punctuation", "req-1.A_b", true},
		{"one character", "a", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"quote", `a"b`, false},
		{"newline", "a\nb", false},
		{"colon", "a:b", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygate.ValidRequestID(tt.id); got != tt.valid {
				t.Errorf("ValidRequestID(%q) = %v, want %v", tt.id, got, tt.valid)
			}
		})
	}
}

func TestHMACCredentialRequest(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*keygate.HMACCredentialRequest)
		field string // "" when valid
	}{
		{"valid", func(*keygate.HMACCredentialRequest) {}, ""},
		{"no secret: one is generated", func(r *keygate.HMACCredentialRequest) { r.Secret = "" }, ""},
		{"no tags", func(r *keygate.HMACCredentialRequest) { r.Tags = nil }, ""},
		{"one-character username", func(r *keygate.HMACCredentialRequest) { r.Username = "a" }, ""},
		{"256-character username", func(r *keygate.HMACCredentialRequest) { r.Username = strings.Repeat("u", 256) }, ""},
		{"username with punctuation", func(r *keygate.HMACCredentialRequest) { r.Username = "svc:billing/prod@eu.example_1=x;y'z" }, ""},
		{"no username", func(r *keygate.HMACCredentialRequest) { r.Username = "" }, "username"},
		{"257-character username", func(r *keygate.HMACCredentialRequest) { r.Username = strings.Repeat("u", 257) }, "username"},
		{"username with a space", func(r *keygate.HMACCredentialRequest) { r.Username = "acme signer" }, "username"},
		{"username with a double quote", func(r *keygate.HMACCredentialRequest) { r.Username = `acme"signer` }, "username"},
		{"username with a comma", func(r *keygate.HMACCredentialRequest) { r.Username = "acme,signer" }, "username"},
		{"username with a backslash", func(r *keygate.HMACCredentialRequest) { r.Username = `acme\signer` }, "username"},
		{"username with a newline", func(r *keygate.HMACCredentialRequest) { r.Username = "acme\nsigner" }, "username"},
		{"username with DEL", func(r *keygate.HMACCredentialRequest) { r.Username = "acme\x7f" }, "username"},
		{"non-ASCII username", func(r *keygate.HMACCredentialRequest) { r.Username = "müller" }, "username"},
		{"username shaped like an id", func(r *keygate.HMACCredentialRequest) { r.Username = "0192f1e4-7c4a-7b8e-9a1b-2c3d4e5f6a7b" }, "username"},
		{"32-character secret", func(r *keygate.HMACCredentialRequest) { r.Secret = strings.Repeat("x", 32) }, ""},
		{"512-character secret", func(r *keygate.HMACCredentialRequest) { r.Secret = strings.Repeat("x", 512) }, ""},
		{"secret with spaces and punctuation", func(r *keygate.HMACCredentialRequest) { r.Secret = `correct horse "battery" staple, \ ~!` }, ""},
		{"31-character secret", func(r *keygate.HMACCredentialRequest) { r.Secret = strings.Repeat("x", 31) }, "secret"},
		{"513-character secret", func(r *keygate.HMACCredentialRequest) { r.Secret = strings.Repeat("x", 513) }, "secret"},
		{"secret with a tab", func(r *keygate.HMACCredentialRequest) { r.Secret = strings.Repeat("x", 40) + "\t" }, "secret"},
		{"secret with NUL", func(r *keygate.HMACCredentialRequest) { r.Secret = "\x00" + strings.Repeat("x", 40) }, "secret"},
		{"non-ASCII secret", func(r *keygate.HMACCredentialRequest) { r.Secret = strings.Repeat("ü", 20) }, "secret"},
		{"imported 6-character secret, as Kong's docs use", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, "s3cr3t" }, ""},
		{"imported 1-character secret", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, "x" }, ""},
		{"imported 512-character secret", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, strings.Repeat("x", 512) }, ""},
		{"imported without a secret", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, "" }, "secret"},
		{"imported 513-character secret", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, strings.Repeat("x", 513) }, "secret"},
		{"imported secret with a tab", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, "se\tcret" }, "secret"},
		{"imported non-ASCII secret", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret = true, "geheimnisß" }, "secret"},
		{"imported, with a bad username still", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret, r.Username = true, "secret", "a b" }, "username"},
		{"imported, with a bad tag still", func(r *keygate.HMACCredentialRequest) { r.Import, r.Secret, r.Tags = true, "secret", []string{""} }, "tags[0]"},
		{"6-character secret not imported", func(r *keygate.HMACCredentialRequest) { r.Secret = "s3cr3t" }, "secret"},
		{"tag with a comma", func(r *keygate.HMACCredentialRequest) { r.Tags = []string{"a,b"} }, "tags[0]"},
		{"empty tag", func(r *keygate.HMACCredentialRequest) { r.Tags = []string{"ok", ""} }, "tags[1]"},
		{"too many tags", func(r *keygate.HMACCredentialRequest) { r.Tags = make([]string, 65) }, "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validHMACRequest()
			tt.edit(r)
			err := r.Validate()
			wantInvalid(t, err, tt.field)
			if r.Secret != "" && strings.Contains(keygate.ErrorMessage(err), r.Secret) {
				t.Errorf("message %q echoes the secret", keygate.ErrorMessage(err))
			}
		})
	}
}

// TestHMACCredentialRequestWeak: only an imported secret shorter than a
// chosen one may be makes a weak credential.
func TestHMACCredentialRequestWeak(t *testing.T) {
	tests := []struct {
		name    string
		import_ bool
		secret  string
		weak    bool
	}{
		{"imported short secret", true, "secret", true},
		{"imported 31 characters", true, strings.Repeat("x", 31), true},
		{"imported 32 characters", true, strings.Repeat("x", 32), false},
		{"chosen 32 characters", false, strings.Repeat("x", 32), false},
		{"generated", false, "", false},
		{"short, not imported (refused by Validate)", false, "secret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := keygate.HMACCredentialRequest{Username: "u", Secret: tt.secret, Import: tt.import_}
			if got := r.Weak(); got != tt.weak {
				t.Errorf("Weak() = %v, want %v", got, tt.weak)
			}
		})
	}
}

// TestRouteHMACAuthJSON: hmac_auth is decoded as key_auth is: nil when
// absent or null, Kong's defaults for what an object leaves out, unknown
// settings refused.
func TestRouteHMACAuthJSON(t *testing.T) {
	custom := keygate.NewHMACAuthConfig()
	custom.ClockSkew, custom.Algorithms, custom.ReplayProtection = 60, []string{keygate.HMACSHA256}, false
	tests := []struct {
		name string
		doc  string
		want *keygate.HMACAuthConfig
		bad  bool
	}{
		{"absent", `{}`, nil, false},
		{"null", `{"hmac_auth": null}`, nil, false},
		{"empty object: defaults", `{"hmac_auth": {}}`, keygate.NewHMACAuthConfig(), false},
		{"some settings", `{"hmac_auth": {"clock_skew": 60, "algorithms": ["hmac-sha256"], "replay_protection": false}}`, custom, false},
		{"an unknown setting", `{"hmac_auth": {"clock_skeww": 60}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := keygate.NewRoute()
			err := json.Unmarshal([]byte(tt.doc), r)
			if tt.bad {
				if err == nil {
					t.Fatal("decoded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(r.HMACAuth)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("hmac_auth = %s, want %s", got, want)
			}
		})
	}

	t.Run("a route with hmac_auth alone is valid, also with an ACL", func(t *testing.T) {
		r := validRoute()
		r.KeyAuth, r.HMACAuth = nil, keygate.NewHMACAuthConfig()
		wantInvalid(t, r.Validate(), "")
		r.HMACAuth = nil
		wantInvalid(t, r.Validate(), "acl")
	})
}

func TestNormalize(t *testing.T) {
	s, r, c, k := &keygate.Service{}, &keygate.Route{}, &keygate.Consumer{}, &keygate.APIKey{}
	kept := []string{"x"}
	r.Paths = kept
	s.Normalize()
	r.Normalize()
	c.Normalize()
	k.Normalize()
	lists := map[string][]string{
		"service tags": s.Tags, "route hosts": r.Hosts, "route methods": r.Methods, "route tags": r.Tags,
		"consumer groups": c.Groups, "consumer tags": c.Tags, "key allowed_services": k.AllowedServices,
		"key allowed_routes": k.AllowedRoutes, "key allowed_cidrs": k.AllowedCIDRs, "key tags": k.Tags,
	}
	for name, l := range lists {
		if l == nil || len(l) != 0 {
			t.Errorf("%s = %#v, want []string{}", name, l)
		}
	}
	if !slices.Equal(r.Paths, kept) {
		t.Errorf("a list that was set changed: %v", r.Paths)
	}
}

func TestNormalizeHMACAuth(t *testing.T) {
	r := &keygate.Route{}
	r.Normalize()
	if r.KeyAuth != nil || r.HMACAuth != nil {
		t.Errorf("Normalize set key_auth %v, hmac_auth %v; absent must stay nil", r.KeyAuth, r.HMACAuth)
	}
	r.HMACAuth = &keygate.HMACAuthConfig{}
	r.Normalize()
	if r.HMACAuth.EnforceHeaders == nil || r.HMACAuth.Algorithms == nil {
		t.Errorf("hmac_auth lists %#v, %#v, want []string{}", r.HMACAuth.EnforceHeaders, r.HMACAuth.Algorithms)
	}
}

func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{"", "req-1", "a b", strings.Repeat("x", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !keygate.ValidRequestID(id) {
			return
		}
		// What is kept is echoed into headers: no byte may need quoting.
		if len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) }) {
			t.Errorf("ValidRequestID(%q) = true", id)
		}
	})
}

func FuzzRoutePath(f *testing.F) {
	for _, s := range []string{"/", "/orders", "/orders/", "//", "/a/../b", "/a%2Fb", "/a;b", "/a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r := validRoute()
		r.Paths = []string{p}
		if r.Validate() != nil {
			return
		}
		// An accepted path is one the proxy's cleaned, decoded request paths can equal.
		trimmed := strings.TrimSuffix(p, "/")
		if p != "/" && (strings.HasSuffix(trimmed, "/") || strings.Contains(trimmed, "//")) ||
			strings.ContainsAny(p, "%;\\?# ") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") {
			t.Errorf("path %q accepted", p)
		}
	})
}

func BenchmarkValidRequestID(b *testing.B) {
	id := "0123456789abcdef-1a2b3c"
	b.ReportAllocs()
	for b.Loop() {
		if !keygate.ValidRequestID(id) {
			b.Fatal("refused")
		}
	}
}
