package httpsig

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// testRequest is RFC 9421's test-request (Appendix B.2).
const testRequest = `POST /foo?param=Value&Pet=dog HTTP/1.1
Host: example.com
Date: Tue, 20 Apr 2021 02:07:55 GMT
Content-Type: application/json
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
Content-Length: 18

{"hello": "world"}`

// RFC 9421 Appendix B.1.5, the shared secret test-shared-secret.
const testSharedSecret = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="

// Appendix B.2.5: hmac-sha256 over date, @authority and content-type.
func TestRFC9421HMACTestVector(t *testing.T) {
	const (
		input = `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`
		sig   = `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`
		base  = `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@authority": example.com
"content-type": application/json
"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`
	)
	secret, err := base64.StdEncoding.DecodeString(testSharedSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := received(t, testRequest)
	ins, err := ParseSignatureInput([]string{input})
	if err != nil || len(ins) != 1 {
		t.Fatalf("ParseSignatureInput: %v %v", ins, err)
	}
	in := ins[0]
	if in.Label != "sig-b25" || in.KeyID != "test-shared-secret" || !in.HasCreated || in.Created != 1618884473 ||
		in.HasExpires || in.Alg != "" || strings.Join(in.Components, " ") != "date @authority content-type" {
		t.Errorf("parsed %+v", in)
	}
	got, err := SignatureBase(HTTPRequest(r), in)
	if err != nil || string(got) != base {
		t.Errorf("signature base:\n%s\n(%v), want\n%s", got, err, base)
	}
	want, err := ParseSignature([]string{sig}, "sig-b25")
	if err != nil {
		t.Fatal(err)
	}
	mac, err := in.MAC(HTTPRequest(r), secret)
	if err != nil || string(mac) != string(want) {
		t.Errorf("MAC = %x (%v), want %x", mac, err, want)
	}

	// Signing builds the same fields.
	out, err := NewSignatureInput("sig-b25", []string{"date", "@authority", "content-type"},
		SignatureParams{Created: 1618884473, KeyID: "test-shared-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := out.Header(); err != nil || h != input {
		t.Errorf("Signature-Input = %s (%v)", h, err)
	}
	mac, _ = out.MAC(HTTPRequest(r), secret)
	if h, err := SignatureHeader("sig-b25", mac); err != nil || h != sig {
		t.Errorf("Signature = %s (%v)", h, err)
	}
}

// Appendix B.2.6 signs with Ed25519, which keygate does not accept; but
// its published signature verifies against the base built here, so the
// base of @method, @path and content-length is the RFC's.
func TestRFC9421Ed25519Base(t *testing.T) {
	const (
		input  = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
		sig    = `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`
		pubKey = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=" // B.1.4
	)
	der, _ := base64.StdEncoding.DecodeString(pubKey)
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := ParseSignatureInput([]string{input})
	if err != nil {
		t.Fatal(err)
	}
	base, err := SignatureBase(HTTPRequest(received(t, testRequest)), ins[0])
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ParseSignature([]string{sig}, "sig-b26")
	if !ed25519.Verify(key.(ed25519.PublicKey), base, s) {
		t.Errorf("the RFC's signature does not verify over\n%s", base)
	}
}

// The derived components of RFC 9421 section 2.2, with its examples.
func TestDerivedComponents(t *testing.T) {
	tests := []struct {
		name, raw string
		tls       bool
		component string
		want      string
	}{
		{"method", "POST /path?param=value HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@method", "POST"},
		{"target-uri", "POST /path?param=value HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@target-uri", "https://www.example.com/path?param=value"},
		{"authority", "POST /path?param=value HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@authority", "www.example.com"},
		{"authority lower-case, default port dropped", "GET / HTTP/1.1\nHost: WWW.Example.com:443\n\n", true, "@authority", "www.example.com"},
		{"authority keeps other ports", "GET / HTTP/1.1\nHost: www.example.com:8443\n\n", true, "@authority", "www.example.com:8443"},
		{"http default port", "GET / HTTP/1.1\nHost: www.example.com:80\n\n", false, "@authority", "www.example.com"},
		{"scheme", "POST /path?param=value HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", false, "@scheme", "http"},
		{"request-target", "POST /path?param=value HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@request-target", "/path?param=value"},
		{"path", "POST /path?param=value HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@path", "/path"},
		{"query", "POST /path?param=value&foo=bar&baz=batman HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@query", "?param=value&foo=bar&baz=batman"},
		{"query empty", "POST /path?queryString HTTP/1.1\nHost: www.example.com\nContent-Length: 0\n\n", true, "@query", "?queryString"},
		{"query absent", "GET /path HTTP/1.1\nHost: www.example.com\n\n", true, "@query", "?"},
		{"field lines joined", "GET / HTTP/1.1\nHost: h\nX-Obs-Fold-Header: Obsolete\nCache-Control: max-age=60\nCache-Control:    must-revalidate\n\n", false, "cache-control", "max-age=60, must-revalidate"},
		{"empty field", "GET / HTTP/1.1\nHost: h\nX-Empty-Header:\n\n", false, "x-empty-header", ""},
		{"cookie joined with a comma", "GET / HTTP/1.1\nHost: h\nCookie: a=1\nCookie: b=2\n\n", false, "cookie", "a=1, b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := received(t, tt.raw)
			if tt.tls {
				r.TLS = fakeTLS()
			}
			got, err := appendComponent(nil, HTTPRequest(r), tt.component, new([maxHeaderName]byte))
			if err != nil || string(got) != tt.want {
				t.Errorf("%s = %q (%v), want %q", tt.component, got, err, tt.want)
			}
		})
	}
}

func TestSignatureBaseErrors(t *testing.T) {
	r := received(t, testRequest)
	tests := []struct {
		input string
		want  error
	}{
		{`s=("x-missing");created=1;keyid="k"`, ErrMissingComponent},
		{`s=("@method" "@method");created=1;keyid="k"`, ErrDuplicateComponent},
		{`s=("Date");created=1;keyid="k"`, ErrUnsupportedComponent},
		{`s=("@status");created=1;keyid="k"`, ErrUnsupportedComponent},
		{`s=("@query-param";name="Pet");created=1;keyid="k"`, ErrUnsupportedComponent},
		{`s=("content-type";sf);created=1;keyid="k"`, ErrUnsupportedComponent},
		{`s=("");created=1;keyid="k"`, ErrUnsupportedComponent},
	}
	for _, tt := range tests {
		ins, err := ParseSignatureInput([]string{tt.input})
		if err == nil {
			_, err = SignatureBase(HTTPRequest(r), ins[0])
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.input, err, tt.want)
		}
	}
}

func TestParseSignatureInputErrors(t *testing.T) {
	for _, in := range []string{
		``, `sig1`, `sig1=:YWJj:`, `sig1=("@method");created="1"`, `sig1=("@method");keyid=1`,
		`sig1=("@method");expires=1.5`, `sig1=(@method)`, `sig1=("@method" 1)`, `SIG=("@method")`,
		`sig1=("@method"`, `a=(), b=(), c=(), d=(), e=(), f=(), g=(), h=(), i=()`,
	} {
		if ins, err := ParseSignatureInput([]string{in}); err == nil {
			t.Errorf("%q parsed: %+v", in, ins)
		}
	}
	ins, err := ParseSignatureInput([]string{`sig1=("@method");created=1;expires=2;nonce="n";tag="t";alg="hmac-sha256";keyid="k";other=?1`, `sig2=()`})
	if err != nil || len(ins) != 2 {
		t.Fatal(err)
	}
	if in := ins[0]; in.Created != 1 || in.Expires != 2 || !in.HasExpires || in.Nonce != "n" || in.Tag != "t" || in.Alg != AlgHMACSHA256 || in.KeyID != "k" {
		t.Errorf("parsed %+v", in)
	}
	if p, _ := ins[0].Params(); p != `("@method");created=1;expires=2;nonce="n";tag="t";alg="hmac-sha256";keyid="k";other` {
		t.Errorf("params %s", p)
	}
	if _, err := ins[0].MAC(HTTPRequest(received(t, testRequest)), []byte("k")); err != nil {
		t.Error(err)
	}
	ins[0].Alg = "ed25519"
	if _, err := ins[0].MAC(HTTPRequest(received(t, testRequest)), []byte("k")); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("alg ed25519: %v", err)
	}
}

func TestParseSignature(t *testing.T) {
	lines := []string{`a=:YWJj:, b=?1`, `c=:YQ==:`}
	if s, err := ParseSignature(lines, "c"); err != nil || string(s) != "a" {
		t.Errorf("c: %q %v", s, err)
	}
	if _, err := ParseSignature(lines, "b"); !errors.Is(err, ErrSignatureField) {
		t.Errorf("b: %v", err)
	}
	if _, err := ParseSignature(lines, "d"); !errors.Is(err, ErrNoSignature) {
		t.Errorf("d: %v", err)
	}
	if _, err := ParseSignature([]string{`a=:not base64!:`}, "a"); err == nil {
		t.Error("bad base64 parsed")
	}
}

// A request a client is about to send and the same request received have
// the same signature base.
func TestSignatureBaseClientServer(t *testing.T) {
	out, _ := http.NewRequest("POST", "https://Example.com:443/a%2Fb?x=1&y=%20", strings.NewReader(`{"hello": "world"}`))
	out.Header.Set("Content-Type", "application/json")
	in := received(t, "POST /a%2Fb?x=1&y=%20 HTTP/1.1\nHost: example.com\nContent-Type: application/json\nContent-Length: 18\n\n{\"hello\": \"world\"}")
	in.TLS = fakeTLS()
	sig, err := NewSignatureInput("sig1", []string{"@method", "@authority", "@path", "@query", "@target-uri", "@request-target", "@scheme", "content-type", "content-length"},
		SignatureParams{Created: 1, KeyID: "k", Alg: AlgHMACSHA256})
	if err != nil {
		t.Fatal(err)
	}
	a, err1 := SignatureBase(HTTPRequest(out), sig)
	b, err2 := SignatureBase(HTTPRequest(in), sig)
	if err1 != nil || err2 != nil || string(a) != string(b) {
		t.Errorf("client\n%s (%v)\nserver\n%s (%v)", a, err1, b, err2)
	}
}

func TestNewSignatureInputErrors(t *testing.T) {
	if _, err := NewSignatureInput("Bad Label", []string{"@method"}, SignatureParams{Created: 1, KeyID: "k"}); err == nil {
		t.Error("bad label accepted")
	}
	if _, err := NewSignatureInput("sig", []string{"@status"}, SignatureParams{Created: 1, KeyID: "k"}); err == nil {
		t.Error("@status accepted")
	}
	if _, err := NewSignatureInput("sig", []string{"@method"}, SignatureParams{Created: 1, KeyID: "k\x00"}); err == nil {
		t.Error("keyid with a control character accepted")
	}
	in, err := NewSignatureInput("sig", []string{"@method"}, SignatureParams{Created: 1, Expires: 2, KeyID: "k", Alg: AlgHMACSHA256, Nonce: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := in.Header(); h != `sig=("@method");created=1;expires=2;keyid="k";alg="hmac-sha256";nonce="n"` || !in.HasExpires {
		t.Errorf("Header = %s", h)
	}
}
