package httpsig

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dunglas/httpsfv"
)

// FuzzSFVAgainstHTTPSFV holds the scanner to httpsfv: the same fields are
// dictionaries, with the same member names; within this package's bounds,
// Signature-Input, Signature and Content-Digest read the same, and
// @signature-params is httpsfv's serialization.
func FuzzSFVAgainstHTTPSFV(f *testing.F) {
	for _, s := range []string{
		`sig1=("@method" "@authority" "@path" "@query" "content-digest");created=1618884473;keyid="k";alg="hmac-sha256"`,
		`sig1=( "@method"  "@path" );created=01;keyid="a\"b";x;y=?1;z=?0;created=2;t=tok/en`,
		`sig1=:AAAA:, sig2=:YWJj:;a=1.5, sig1=:YR==:`, `sha-256=:AAAA:, md5=:AA==:;x=%"%c3%a9"`,
		`a=1, b=-1.25, c=@12, d="x", e=*t, f=?0, g, h=(1 2);p`, `a=%"%c3"`, `a=("x";sf)`, `a=(`, `a,`, ` `, `A=1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := httpsfv.UnmarshalDictionary([]string{v})
		var names []string
		sd := newSFDict(v)
		for m, ok := sd.next(); ok; m, ok = sd.next() {
			if !slices.Contains(names, m.key) {
				names = append(names, m.key)
			}
		}
		if (err == nil) == sd.bad {
			t.Fatalf("%q: httpsfv %v, scanner bad %v", v, err, sd.bad)
		}
		if err != nil {
			return
		}
		if !slices.Equal(names, d.Names()) {
			t.Fatalf("%q: names %q, httpsfv %q", v, names, d.Names())
		}
		members := 0
		for sd = newSFDict(v); ; members++ {
			if _, ok := sd.next(); !ok {
				break
			}
		}
		if members > maxDictMembers || strings.Count(v, ";") > 2*maxSignatureParams {
			// Past the bounds on repeats, which httpsfv does not count:
			// refused here, whatever httpsfv reads.
			if _, err := ParseSignatureInput([]string{v}); err == nil && members > maxDictMembers {
				t.Fatalf("%q: %d members read", v, members)
			}
			return
		}

		ins, err := ParseSignatureInput([]string{v})
		want, werr := oracleSignatureInput(d)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: ParseSignatureInput %v, httpsfv %v", v, err, werr)
		}
		for i, in := range ins {
			w := want[i]
			if in.Label != w.Label || !slices.Equal(in.Components, w.Components) || in.Created != w.Created ||
				in.HasCreated != w.HasCreated || in.Expires != w.Expires || in.HasExpires != w.HasExpires ||
				in.KeyID != w.KeyID || in.Alg != w.Alg || in.Nonce != w.Nonce || in.Tag != w.Tag || in.params != w.params {
				t.Fatalf("%q: got %+v, httpsfv %+v", v, *in, *w)
			}
		}

		ds, err := ParseContentDigest([]string{v})
		wds, werr := oracleContentDigest(d)
		if (err == nil) != (werr == nil) || len(ds) != len(wds) {
			t.Fatalf("%q: ParseContentDigest %v %v, httpsfv %v %v", v, ds, err, wds, werr)
		}
		for i := range ds {
			if ds[i].Algorithm != wds[i].Algorithm || !bytes.Equal(ds[i].Value, wds[i].Value) {
				t.Fatalf("%q: ParseContentDigest %v, httpsfv %v", v, ds, wds)
			}
		}

		for _, label := range names {
			sig, err := ParseSignature([]string{v}, label)
			wsig, werr := oracleSignature(d, label)
			if (err == nil) != (werr == nil) || !bytes.Equal(sig, wsig) {
				t.Fatalf("%q %s: ParseSignature %x %v, httpsfv %x %v", v, label, sig, err, wsig, werr)
			}
		}
	})
}

// The readings as they were on httpsfv, with this package's bounds.

func oracleSignatureInput(d *httpsfv.Dictionary) ([]*SignatureInput, error) {
	if len(d.Names()) == 0 || len(d.Names()) > MaxSignatures {
		return nil, ErrSignatureInput
	}
	var ins []*SignatureInput
	for _, label := range d.Names() {
		m, _ := d.Get(label)
		list, ok := m.(httpsfv.InnerList)
		if !ok || len(list.Items) > MaxComponents {
			return nil, ErrSignatureInput
		}
		in := &SignatureInput{Label: label}
		for _, item := range list.Items {
			name, ok := item.Value.(string)
			if !ok || len(item.Params.Names()) > 0 {
				return nil, ErrSignatureInput
			}
			in.Components = append(in.Components, name)
		}
		if len(list.Params.Names()) > maxSignatureParams {
			return nil, ErrSignatureInput
		}
		for _, name := range list.Params.Names() {
			v, _ := list.Params.Get(name)
			switch v.(type) {
			case string, httpsfv.Token, int64, bool:
			default:
				return nil, ErrSignatureInput
			}
			ok := true
			switch name {
			case "created":
				in.Created, ok = v.(int64)
				in.HasCreated = true
			case "expires":
				in.Expires, ok = v.(int64)
				in.HasExpires = true
			case "keyid":
				in.KeyID, ok = v.(string)
			case "alg":
				in.Alg, ok = v.(string)
			case "nonce":
				in.Nonce, ok = v.(string)
			case "tag":
				in.Tag, ok = v.(string)
			}
			if !ok {
				return nil, ErrSignatureInput
			}
		}
		var err error
		if in.params, err = httpsfv.Marshal(list); err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	return ins, nil
}

func oracleContentDigest(d *httpsfv.Dictionary) ([]Digest, error) {
	if len(d.Names()) == 0 || len(d.Names()) > maxDigests {
		return nil, ErrDigestFormat
	}
	var ds []Digest
	for _, name := range d.Names() {
		m, _ := d.Get(name)
		item, ok := m.(httpsfv.Item)
		if !ok {
			return nil, ErrDigestFormat
		}
		b, ok := item.Value.([]byte)
		if !ok {
			return nil, ErrDigestFormat
		}
		ds = append(ds, Digest{Algorithm: name, Value: b})
	}
	return ds, nil
}

func oracleSignature(d *httpsfv.Dictionary, label string) ([]byte, error) {
	if len(d.Names()) > MaxSignatures {
		return nil, ErrSignatureField
	}
	m, ok := d.Get(label)
	if !ok {
		return nil, ErrNoSignature
	}
	item, ok := m.(httpsfv.Item)
	if !ok {
		return nil, ErrSignatureField
	}
	sig, ok := item.Value.([]byte)
	if !ok {
		return nil, ErrSignatureField
	}
	return sig, nil
}

// TestDisplayStringUTF8 holds the display-string scanner's incremental
// UTF-8 check to utf8.Valid on the escaped bytes: every pair of bytes,
// and longer sequences of each lead byte with continuation bytes at the
// edges of their ranges.
func TestDisplayStringUTF8(t *testing.T) {
	check := func(bs ...byte) {
		t.Helper()
		var b strings.Builder
		b.WriteString(`%"`)
		for _, c := range bs {
			fmt.Fprintf(&b, "%%%02x", c)
		}
		b.WriteString(`"`)
		p := sfScanner{s: b.String()}
		if got, want := p.displayString(), utf8.Valid(bs); got != want {
			t.Fatalf("displayString(%s) = %v, utf8.Valid %v", b.String(), got, want)
		}
	}
	for i := range 1 << 16 {
		check(byte(i >> 8))
		check(byte(i>>8), byte(i))
	}
	edges := []byte{0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff}
	for lead := 0xc0; lead <= 0xff; lead++ {
		for _, b2 := range edges {
			for _, b3 := range edges {
				check(byte(lead), b2, b3)
				for _, b4 := range edges {
					check(byte(lead), b2, b3, b4)
					check(byte(lead), b2, b3, b4, 'a')
				}
			}
		}
	}
}
