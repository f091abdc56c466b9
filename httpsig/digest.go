package httpsig

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// Digest is one digest of a body: an algorithm, lower-cased, and its value.
type Digest struct {
	Algorithm string
	Value     []byte
}

// Body digest algorithms this package computes; others are ignored.
const (
	DigestSHA256 = "sha-256"
	DigestSHA512 = "sha-512"
)

// maxDigests bounds the digests parsed from one request.
const maxDigests = 16

var (
	ErrDigestFormat   = errors.New("httpsig: malformed digest header")
	ErrNoKnownDigest  = errors.New("httpsig: no sha-256 or sha-512 digest")
	ErrDigestMismatch = errors.New("httpsig: body does not match its digest")
)

// ParseDigest parses an RFC 3230 Digest value, the header Kong checks
// (`SHA-256=<base64>`): a comma-separated list of algorithm=value, the
// algorithm case-insensitive. Values of sha-256 and sha-512 must be base64;
// others are kept as sent.
func ParseDigest(v string) ([]Digest, error) {
	var ds []Digest
	for v != "" {
		// Separators and the blanks around them are skipped a byte at a
		// time: 8 KiB of ", " costs no more than a pass.
		if c := v[0]; c == ',' || c == ' ' || c == '\t' {
			v = v[1:]
			continue
		}
		var part string
		if i := strings.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, ""
		}
		part = strings.TrimRight(part, " \t")
		if len(ds) == maxDigests {
			return nil, ErrDigestFormat
		}
		alg, val, ok := strings.Cut(part, "=")
		if !ok || alg == "" {
			return nil, ErrDigestFormat
		}
		d := Digest{Algorithm: strings.ToLower(alg)}
		if d.known() {
			b, err := base64.StdEncoding.DecodeString(val)
			if err != nil {
				return nil, ErrDigestFormat
			}
			d.Value = b
		} else {
			d.Value = []byte(val)
		}
		if ds == nil {
			ds = make([]Digest, 0, 2)
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return nil, ErrDigestFormat
	}
	return ds, nil
}

// ParseContentDigest parses RFC 9530 Content-Digest field lines: a
// structured dictionary of at most 16 algorithms to byte sequences.
func ParseContentDigest(lines []string) ([]Digest, error) {
	var members [maxDigests]sfMember
	ms, err := dictMembers(members[:0], joinLines(lines), ErrDigestFormat)
	if err != nil || len(ms) == 0 {
		return nil, ErrDigestFormat
	}
	ds := make([]Digest, 0, len(ms))
	var buf []byte
	for _, m := range ms {
		p := sfScanner{s: m.value}
		if !p.peek('=') {
			return nil, ErrDigestFormat
		}
		p.off++
		it, ok := p.bareItem()
		if !ok || it.kind != ':' {
			return nil, ErrDigestFormat
		}
		n := len(buf)
		if buf, ok = decodeBinary(buf, it); !ok {
			return nil, ErrDigestFormat
		}
		ds = append(ds, Digest{Algorithm: m.key, Value: buf[n:len(buf):len(buf)]})
	}
	return ds, nil
}

func (d Digest) known() bool { return d.Algorithm == DigestSHA256 || d.Algorithm == DigestSHA512 }

// CheckDigests checks body against ds: at least one digest must be of an
// algorithm this package computes, and every such digest must match.
// Digests of other algorithms (md5, unixsum, ...) are ignored: they prove
// nothing.
func CheckDigests(ds []Digest, body []byte) error {
	var sum256 *[sha256.Size]byte
	var sum512 *[sha512.Size]byte
	known := false
	for _, d := range ds {
		var sum []byte
		switch d.Algorithm {
		case DigestSHA256:
			if sum256 == nil {
				s := sha256.Sum256(body)
				sum256 = &s
			}
			sum = sum256[:]
		case DigestSHA512:
			if sum512 == nil {
				s := sha512.Sum512(body)
				sum512 = &s
			}
			sum = sum512[:]
		default:
			continue
		}
		known = true
		if subtle.ConstantTimeCompare(sum, d.Value) != 1 {
			return ErrDigestMismatch
		}
	}
	if !known {
		return ErrNoKnownDigest
	}
	return nil
}

// DigestHeader is the Digest value Kong expects for body:
// SHA-256=<base64 of its SHA-256>.
func DigestHeader(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// ContentDigestHeader is the RFC 9530 Content-Digest value for body with
// the given algorithms (DigestSHA256 when none is given), in that order.
func ContentDigestHeader(body []byte, algs ...string) (string, error) {
	if len(algs) == 0 {
		algs = []string{DigestSHA256}
	}
	var b strings.Builder
	for i, alg := range algs {
		var sum []byte
		switch alg {
		case DigestSHA256:
			s := sha256.Sum256(body)
			sum = s[:]
		case DigestSHA512:
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			return "", errors.New("httpsig: unsupported content digest algorithm " + alg)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(alg)
		b.WriteString("=:")
		b.WriteString(base64.StdEncoding.EncodeToString(sum))
		b.WriteByte(':')
	}
	return b.String(), nil
}
