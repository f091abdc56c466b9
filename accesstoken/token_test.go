package accesstoken_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate/accesstoken"
)

const (
	issuer = "https://auth.example.test"
	aud    = "https://api.example.test"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// currentKey returns a new key of alg in state Current.
func currentKey(tb testing.TB, alg string) *accesstoken.SigningKey {
	tb.Helper()
	k, err := accesstoken.GenerateKey(alg, t0)
	if err != nil {
		tb.Fatal(err)
	}
	k.State, k.ActivatedAt = accesstoken.Current, t0
	return k
}

func grant() accesstoken.Grant {
	return accesstoken.Grant{
		Issuer: issuer, Subject: "consumer-1", ClientID: "client-1",
		Audience: []string{aud}, Scopes: []string{"orders:read", "orders:write"}, Lifetime: 10 * time.Minute,
	}
}

func claimsAt(tb testing.TB, g accesstoken.Grant, now time.Time) *accesstoken.Claims {
	tb.Helper()
	c, err := accesstoken.NewClaims(g, now)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func issue(tb testing.TB, k *accesstoken.SigningKey, c *accesstoken.Claims) string {
	tb.Helper()
	tok, err := accesstoken.Issue(k, c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func verifierAt(set *accesstoken.KeySet, now time.Time) *accesstoken.Verifier {
	return &accesstoken.Verifier{Issuer: issuer, Audience: aud, Keys: set.PublicKeys(), Now: func() time.Time { return now }}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b64(b)
}

// signWith signs payload with priv under any header fields the test wants,
// as a token forger would.
func signWith(tb testing.TB, alg jose.SignatureAlgorithm, priv any, kid, typ string, payload []byte) string {
	tb.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// payloadOf decodes a token's claims as they are on the wire.
func payloadOf(tb testing.TB, token string) map[string]any {
	tb.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestIssuedTokenVerifies(t *testing.T) {
	for _, alg := range []string{accesstoken.ES256, accesstoken.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k := currentKey(t, alg)
			set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{k}}
			want := claimsAt(t, grant(), t0)
			tok := issue(t, k, want)

			header := strings.Split(tok, ".")[0]
			raw, _ := base64.RawURLEncoding.DecodeString(header)
			var h map[string]any
			json.Unmarshal(raw, &h)
			if h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] != k.ID {
				t.Errorf("header = %v, want typ at+jwt, alg %s, kid %s", h, alg, k.ID)
			}
			p := payloadOf(t, tok)
			for _, claim := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
				if _, ok := p[claim]; !ok {
					t.Errorf("claim %s missing from %v", claim, p)
				}
			}
			if p["scope"] != "orders:read orders:write" {
				t.Errorf("scope = %v, want space-separated", p["scope"])
			}

			got, err := verifierAt(set, t0.Add(time.Minute)).Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != want.Subject || got.ClientID != want.ClientID || got.ID != want.ID ||
				!got.Expiry.Equal(want.Expiry) || !got.HasScope("orders:write") || got.HasScope("admin") {
				t.Errorf("claims = %+v, want %+v", got, want)
			}
		})
	}
}

func TestJTIIsRandom(t *testing.T) {
	a, b := claimsAt(t, grant(), t0), claimsAt(t, grant(), t0)
	if a.ID == b.ID || len(a.ID) < 20 {
		t.Errorf("jti %q and %q: want distinct random ids", a.ID, b.ID)
	}
}

func TestRefused(t *testing.T) {
	es := currentKey(t, accesstoken.ES256)
	ed := currentKey(t, accesstoken.EdDSA)
	set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{es, ed}}
	good := issue(t, es, claimsAt(t, grant(), t0))
	goodPayload := strings.Split(good, ".")[1]

	// Forgers' keys: same kid as a published key, private key their own.
	otherEC, _ := accesstoken.GenerateKey(accesstoken.ES256, t0)
	otherEC.ID, otherEC.State = es.ID, accesstoken.Current
	otherEd, _ := accesstoken.GenerateKey(accesstoken.EdDSA, t0)
	otherEd.ID, otherEd.State = es.ID, accesstoken.Current // EdDSA under the ES256 key's kid

	pubDER, err := x509.MarshalPKIXPublicKey(es.Public().(*ecdsa.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(key []byte) string {
		signing := b64json(t, map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": es.ID}) + "." + goodPayload
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(signing))
		return signing + "." + b64(mac.Sum(nil))
	}
	_, edPriv, _ := ed25519.GenerateKey(nil)

	grantWith := func(change func(*accesstoken.Grant)) accesstoken.Grant {
		g := grant()
		change(&g)
		return g
	}
	tamper := func(tok string) string {
		parts := strings.Split(tok, ".")
		p := payloadOf(t, tok)
		p["sub"] = "consumer-2"
		parts[1] = b64json(t, p)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name  string
		token string
		now   time.Time
		want  error
	}{
		{"expired beyond the leeway", good, t0.Add(10*time.Minute + 31*time.Second), accesstoken.ErrExpired},
		{"not yet valid (iat ahead beyond the leeway)", good, t0.Add(-31 * time.Second), accesstoken.ErrNotYetValid},
		{"not yet valid (nbf)", func() string {
			c := claimsAt(t, grant(), t0)
			c.NotBefore = t0.Add(5 * time.Minute)
			return issue(t, es, c)
		}(), t0.Add(time.Minute), accesstoken.ErrNotYetValid},
		{"wrong audience", issue(t, es, claimsAt(t, grantWith(func(g *accesstoken.Grant) { g.Audience = []string{"https://other.test"} }), t0)), t0, accesstoken.ErrAudience},
		{"wrong issuer", issue(t, es, claimsAt(t, grantWith(func(g *accesstoken.Grant) { g.Issuer = "https://evil.test" }), t0)), t0, accesstoken.ErrIssuer},
		{"typ JWT", signWith(t, jose.ES256, accesstoken.PrivateKey(es), es.ID, "JWT", mustDecode(goodPayload)), t0, accesstoken.ErrType},
		{"typ missing", signWith(t, jose.ES256, accesstoken.PrivateKey(es), es.ID, "", mustDecode(goodPayload)), t0, accesstoken.ErrType},
		{"unknown kid", signWith(t, jose.EdDSA, edPriv, "no-such-kid", "at+jwt", mustDecode(goodPayload)), t0, accesstoken.ErrUnknownKey},
		{"alg none", b64json(t, map[string]string{"alg": "none", "typ": "at+jwt", "kid": es.ID}) + "." + goodPayload + ".", t0, accesstoken.ErrAlgorithm},
		{"HS256 keyed with the public key (DER)", hs256(pubDER), t0, accesstoken.ErrAlgorithm},
		{"HS256 keyed with the JWKS x coordinate", hs256(es.Public().(*ecdsa.PublicKey).X.Bytes()), t0, accesstoken.ErrAlgorithm},
		{"another ES256 key under the same kid", issue(t, otherEC, claimsAt(t, grant(), t0)), t0, accesstoken.ErrSignature},
		{"an EdDSA key under an ES256 kid", issue(t, otherEd, claimsAt(t, grant(), t0)), t0, accesstoken.ErrAlgorithm},
		{"the forger's key embedded in the header (jwk) under a known kid", embedded(t, es.ID, mustDecode(goodPayload)), t0, accesstoken.ErrSignature},
		{"the forger's key embedded in the header (jwk), no kid", embedded(t, "", mustDecode(goodPayload)), t0, accesstoken.ErrUnknownKey},
		{"tampered payload", tamper(good), t0, accesstoken.ErrSignature},
		{"payload swapped between tokens", strings.Split(good, ".")[0] + "." + strings.Split(issue(t, ed, claimsAt(t, grant(), t0)), ".")[1] + "." + strings.Split(good, ".")[2], t0, accesstoken.ErrSignature},
		{"garbage", "not a token", t0, accesstoken.ErrMalformed},
		{"empty", "", t0, accesstoken.ErrMalformed},
		{"too long", strings.Repeat("a", accesstoken.MaxTokenLen+1), t0, accesstoken.ErrMalformed},
		{"JSON serialization instead of compact", `{"payload":"` + goodPayload + `","signatures":[]}`, t0, accesstoken.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := verifierAt(set, tt.now).Verify(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v; want %v", claims, err, tt.want)
			}
			if claims != nil {
				t.Errorf("claims returned with an error: %+v", claims)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token[len(tt.token)-8:]) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	es := currentKey(t, accesstoken.ES256)
	set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{es}}
	good := issue(t, es, claimsAt(t, grant(), t0))
	payload := mustDecode(strings.Split(good, ".")[1])
	multiAud := claimsAt(t, grant(), t0)
	multiAud.Audience = []string{"https://a.test", aud}

	tests := []struct {
		name  string
		token string
		now   time.Time
	}{
		{"within the leeway after exp", good, t0.Add(10*time.Minute + 29*time.Second)},
		{"within the leeway before iat", good, t0.Add(-29 * time.Second)},
		{"typ application/at+jwt", signWith(t, jose.ES256, accesstoken.PrivateKey(es), es.ID, "application/at+jwt", payload), t0},
		{"typ AT+JWT", signWith(t, jose.ES256, accesstoken.PrivateKey(es), es.ID, "AT+JWT", payload), t0},
		{"audience among several", issue(t, es, multiAud), t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := verifierAt(set, tt.now).Verify(tt.token); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestLeewayIsConfigurable(t *testing.T) {
	es := currentKey(t, accesstoken.ES256)
	set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{es}}
	tok := issue(t, es, claimsAt(t, grant(), t0))
	v := verifierAt(set, t0.Add(10*time.Minute+5*time.Second))
	v.Leeway = -1 // none
	if _, err := v.Verify(tok); !errors.Is(err, accesstoken.ErrExpired) {
		t.Errorf("no leeway, 5 s past exp: %v, want ErrExpired", err)
	}
	v.Leeway = 2 * time.Minute
	v.Now = func() time.Time { return t0.Add(11 * time.Minute) }
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("2 min leeway, 1 min past exp: %v", err)
	}
}

func TestMissingClaimsRefused(t *testing.T) {
	es := currentKey(t, accesstoken.ES256)
	set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{es}}
	full := payloadOf(t, issue(t, es, claimsAt(t, grant(), t0)))
	for _, claim := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id"} {
		t.Run(claim, func(t *testing.T) {
			p := map[string]any{}
			for k, v := range full {
				if k != claim {
					p[k] = v
				}
			}
			raw, _ := json.Marshal(p)
			tok := signWith(t, jose.ES256, accesstoken.PrivateKey(es), es.ID, "at+jwt", raw)
			if _, err := verifierAt(set, t0).Verify(tok); !errors.Is(err, accesstoken.ErrMissingClaim) {
				t.Errorf("without %s: %v, want ErrMissingClaim", claim, err)
			}
		})
	}
}

func TestNewClaimsRefusesBadGrants(t *testing.T) {
	tests := map[string]func(*accesstoken.Grant){
		"no issuer":      func(g *accesstoken.Grant) { g.Issuer = "" },
		"no subject":     func(g *accesstoken.Grant) { g.Subject = "" },
		"no client":      func(g *accesstoken.Grant) { g.ClientID = "" },
		"no audience":    func(g *accesstoken.Grant) { g.Audience = nil },
		"zero lifetime":  func(g *accesstoken.Grant) { g.Lifetime = 0 },
		"scope w/ space": func(g *accesstoken.Grant) { g.Scopes = []string{"a b"} },
		"empty scope":    func(g *accesstoken.Grant) { g.Scopes = []string{""} },
		"scope w/ quote": func(g *accesstoken.Grant) { g.Scopes = []string{`a"`} },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			g := grant()
			change(&g)
			if _, err := accesstoken.NewClaims(g, t0); err == nil {
				t.Error("NewClaims accepted it")
			}
		})
	}
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// embedded signs payload with a fresh key and puts that key in the header,
// as in the attacks on verifiers that trust a header's "jwk".
func embedded(tb testing.TB, kid string, payload []byte) string {
	tb.Helper()
	priv, err := accesstoken.GenerateKey(accesstoken.ES256, t0)
	if err != nil {
		tb.Fatal(err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid) // EmbedJWK puts the kid only inside the jwk
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: accesstoken.PrivateKey(priv)}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(string(mustDecode(strings.Split(out, ".")[0])), `"jwk"`) {
		tb.Fatal("no jwk in the header")
	}
	return out
}

func TestVerifierValidate(t *testing.T) {
	keys := (&accesstoken.KeySet{}).PublicKeys()
	tests := map[string]accesstoken.Verifier{
		"no issuer":   {Audience: aud, Keys: keys},
		"no audience": {Issuer: issuer, Keys: keys},
		"no keys":     {Issuer: issuer, Audience: aud},
	}
	for name, v := range tests {
		if err := v.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	v := accesstoken.Verifier{Issuer: issuer, Audience: aud, Keys: keys}
	if err := v.Validate(); err != nil {
		t.Errorf("complete verifier: %v", err)
	}
}
