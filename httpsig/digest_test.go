package httpsig

import (
	"crypto/tls"
	"errors"
	"testing"
)

func fakeTLS() *tls.ConnectionState { return &tls.ConnectionState{} }

// The example body of RFC 9530 section 2 and RFC 9421 Appendix B.2.
var helloWorld = []byte(`{"hello": "world"}`)

const (
	helloSHA256 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
	helloSHA512 = "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="
)

func TestContentDigest(t *testing.T) {
	h, err := ContentDigestHeader(helloWorld)
	if err != nil || h != "sha-256=:"+helloSHA256+":" {
		t.Errorf("ContentDigestHeader = %s (%v)", h, err)
	}
	h, err = ContentDigestHeader(helloWorld, DigestSHA256, DigestSHA512)
	if err != nil || h != "sha-256=:"+helloSHA256+":, sha-512=:"+helloSHA512+":" {
		t.Errorf("ContentDigestHeader(both) = %s (%v)", h, err)
	}
	if _, err := ContentDigestHeader(helloWorld, "md5"); err == nil {
		t.Error("md5 accepted")
	}
	tests := []struct {
		name  string
		lines []string
		want  error
	}{
		{"sha-256", []string{"sha-256=:" + helloSHA256 + ":"}, nil},
		{"sha-512 (RFC 9421 test-request)", []string{"sha-512=:" + helloSHA512 + ":"}, nil},
		{"both, two lines", []string{"sha-256=:" + helloSHA256 + ":", "sha-512=:" + helloSHA512 + ":"}, nil},
		{"unknown ignored", []string{"md5=:AAAA:, sha-256=:" + helloSHA256 + ":"}, nil},
		{"only unknown", []string{"md5=:AAAA:"}, ErrNoKnownDigest},
		{"one wrong", []string{"sha-256=:" + helloSHA256 + ":, sha-512=:AAAA:"}, ErrDigestMismatch},
		{"wrong", []string{"sha-256=:" + helloSHA512 + ":"}, ErrDigestMismatch},
		{"not a byte sequence", []string{"sha-256=" + helloSHA256}, ErrDigestFormat},
		{"inner list", []string{"sha-256=(:" + helloSHA256 + ":)"}, ErrDigestFormat},
		{"upper case key", []string{"SHA-256=:" + helloSHA256 + ":"}, ErrDigestFormat},
		{"empty", []string{""}, ErrDigestFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := ParseContentDigest(tt.lines)
			if err == nil {
				err = CheckDigests(ds, helloWorld)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%v, want %v", err, tt.want)
			}
		})
	}
}

func TestDigest(t *testing.T) {
	if h := DigestHeader(helloWorld); h != "SHA-256="+helloSHA256 {
		t.Errorf("DigestHeader = %s", h)
	}
	if h := DigestHeader(nil); h != "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Errorf("DigestHeader(empty) = %s", h)
	}
	tests := []struct {
		name, in string
		want     error
	}{
		{"Kong's form", "SHA-256=" + helloSHA256, nil},
		{"lower case", "sha-256=" + helloSHA256, nil},
		{"list (RFC 3230)", "SHA-256=" + helloSHA256 + ", unixsum=30637", nil},
		{"sha-512", "SHA-512=" + helloSHA512, nil},
		{"spoofed (Kong's spec)", "SHA-256=" + helloSHA256 + "spoofed", ErrDigestFormat},
		{"wrong", "SHA-256=" + helloSHA512, ErrDigestMismatch},
		{"md5 only", "MD5=HUXZLQLMuI/KZ5KDcJPcOA==", ErrNoKnownDigest},
		{"no =", "SHA-256", ErrDigestFormat},
		{"empty", "", ErrDigestFormat},
		{"commas only", " , ,", ErrDigestFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := ParseDigest(tt.in)
			if err == nil {
				err = CheckDigests(ds, helloWorld)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%v, want %v", err, tt.want)
			}
		})
	}
}
