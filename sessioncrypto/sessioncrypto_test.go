package sessioncrypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func newKey(tb testing.TB) *Key {
	tb.Helper()
	k, err := NewKey(GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, body := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("x"), 70000)} {
		env, err := k.SealRequest(nil, "s1", 7, "POST", "/orders", body)
		if err != nil {
			t.Fatal(err)
		}
		if len(env) != len(body)+Overhead || env[0] != Version {
			t.Fatalf("envelope of %d bytes, version %d", len(env), env[0])
		}
		pt, seq, err := k.OpenRequest(nil, "s1", "POST", "/orders", env)
		if err != nil || seq != 7 || !bytes.Equal(pt, body) {
			t.Fatalf("open = %d bytes, seq %d, %v", len(pt), seq, err)
		}
		renv, err := k.SealResponse(nil, "s1", 7, "POST", "/orders", body)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := k.OpenResponse(nil, "s1", 7, "POST", "/orders", renv); err != nil || !bytes.Equal(pt, body) {
			t.Fatalf("open response: %v", err)
		}
	}
}

func TestRefused(t *testing.T) {
	k, other := newKey(t), newKey(t)
	env, _ := k.SealRequest(nil, "s1", 3, "POST", "/orders", []byte(`{"a":1}`))
	resp, _ := k.SealResponse(nil, "s1", 3, "POST", "/orders", []byte(`{"a":1}`))
	flip := func(i int) []byte { e := bytes.Clone(env); e[i] ^= 1; return e }
	tests := []struct {
		name                  string
		key                   *Key
		session, method, path string
		env                   []byte
		want                  error
	}{
		{"tampered ciphertext", k, "s1", "POST", "/orders", flip(HeaderSize), ErrOpen},
		{"tampered tag", k, "s1", "POST", "/orders", flip(len(env) - 1), ErrOpen},
		{"tampered sequence", k, "s1", "POST", "/orders", flip(8), ErrOpen},
		{"tampered nonce", k, "s1", "POST", "/orders", flip(10), ErrOpen},
		{"other session", k, "s2", "POST", "/orders", env, ErrOpen},
		{"other path (route)", k, "s1", "POST", "/users", env, ErrOpen},
		{"other method", k, "s1", "PUT", "/orders", env, ErrOpen},
		{"other key", other, "s1", "POST", "/orders", env, ErrOpen},
		{"a response as a request", k, "s1", "POST", "/orders", resp, ErrOpen},
		{"truncated", k, "s1", "POST", "/orders", env[:Overhead-1], ErrMalformed},
		{"version 2", k, "s1", "POST", "/orders", append([]byte{2}, env[1:]...), ErrVersion},
		{"sequence 0", k, "s1", "POST", "/orders", append(append([]byte{1}, make([]byte, 8)...), env[9:]...), ErrSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := tt.key.OpenRequest(nil, tt.session, tt.method, tt.path, tt.env); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := k.OpenResponse(nil, "s1", 4, "POST", "/orders", resp); !errors.Is(err, ErrOpen) {
		t.Errorf("response for another request: err = %v", err)
	}
	if _, err := k.SealRequest(nil, "s1", 0, "POST", "/", nil); !errors.Is(err, ErrSequence) {
		t.Errorf("seal with sequence 0: %v", err)
	}
	if _, err := NewKey(make([]byte, 16)); !errors.Is(err, ErrKeySize) {
		t.Errorf("16-byte key: %v", err)
	}
}

func TestWindow(t *testing.T) {
	var w Window
	steps := []struct {
		seq  uint64
		want bool
	}{
		{0, false}, {1, true}, {1, false}, {5, true}, {3, true}, {3, false}, {4, true}, {2, true}, {5, false},
		{5 + WindowSize, true}, {5, false}, {6, true}, {6, false}, {6 + WindowSize, true}, {6, false}, {7, true},
		{100000, true}, {100000 - WindowSize + 1, true}, {100000 - WindowSize, false}, {99999, true}, {99999, false},
	}
	for i, s := range steps {
		if got := w.Accept(s.seq); got != s.want {
			t.Fatalf("step %d: Accept(%d) = %v, want %v", i, s.seq, got, s.want)
		}
	}
}

func TestWindowConcurrent(t *testing.T) {
	var w Window
	var mu sync.Mutex
	accepted := map[uint64]int{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for n := uint64(1); n <= 500; n++ {
				if w.Accept(n) {
					mu.Lock()
					accepted[n]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for n := uint64(1); n <= 500; n++ {
		if accepted[n] != 1 {
			t.Fatalf("%d accepted %d times", n, accepted[n])
		}
	}
}

func TestWrapX25519(t *testing.T) {
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	typ, b64, err := EncodePublicKey(priv.PublicKey())
	if err != nil || typ != X25519 {
		t.Fatal(typ, err)
	}
	pub, err := ParsePublicKey(typ, b64)
	if err != nil {
		t.Fatal(err)
	}
	key := GenerateKey()
	wrapped, err := pub.Wrap("s1", key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapX25519(priv, "s1", wrapped); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapX25519(priv, "s2", wrapped); !errors.Is(err, ErrUnwrap) {
		t.Errorf("unwrap for another session: %v", err)
	}
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := UnwrapX25519(other, "s1", wrapped); !errors.Is(err, ErrUnwrap) {
		t.Errorf("unwrap with another key: %v", err)
	}
}

func TestWrapRSA(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	typ, b64, err := EncodePublicKey(&priv.PublicKey)
	if err != nil || typ != RSAOAEP256 {
		t.Fatal(typ, err)
	}
	pub, err := ParsePublicKey(typ, b64)
	if err != nil {
		t.Fatal(err)
	}
	key := GenerateKey()
	wrapped, err := pub.Wrap("s1", key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapRSA(priv, "s1", wrapped); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapRSA(priv, "s2", wrapped); !errors.Is(err, ErrUnwrap) {
		t.Errorf("unwrap for another session: %v", err)
	}
}

func TestParsePublicKeyRefused(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xb64 := base64.StdEncoding.EncodeToString(x.PublicKey().Bytes())
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	p256DER, _ := x509.MarshalPKIXPublicKey(p256.PublicKey())
	tests := []struct {
		name, typ, key, want string
	}{
		{"not base64", X25519, "***", "must be base64"},
		{"x25519 of 31 bytes", X25519, base64.StdEncoding.EncodeToString(make([]byte, 31)), "32 bytes"},
		{"rsa of 1024 bits", RSAOAEP256, base64.StdEncoding.EncodeToString(smallDER), "1024 bits"},
		{"x25519 key as rsa", RSAOAEP256, xb64, "SubjectPublicKeyInfo"},
		{"ec key as rsa", RSAOAEP256, base64.StdEncoding.EncodeToString(p256DER), "not an RSA key"},
		{"unknown type", "ed25519", xb64, "key_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKey(tt.typ, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func FuzzOpenRequest(f *testing.F) {
	k := newKey(f)
	env, _ := k.SealRequest(nil, "s", 1, "POST", "/", []byte("hello"))
	f.Add(env)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, _, err := k.OpenRequest(nil, "s", "POST", "/", b)
		if err == nil && !bytes.Equal(b, env) && !bytes.Equal(pt, []byte("hello")) {
			t.Fatal("a made-up envelope opened")
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			k := newKey(b)
			body := make([]byte, size)
			dst := make([]byte, 0, size+Overhead)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				seq++
				dst, _ = k.SealRequest(dst[:0], "0190d8c2-5a3b-7c4d-8e9f-0a1b2c3d4e5f", seq, "POST", "/v1/orders", body)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			k := newKey(b)
			env, _ := k.SealRequest(nil, "0190d8c2-5a3b-7c4d-8e9f-0a1b2c3d4e5f", 1, "POST", "/v1/orders", make([]byte, size))
			dst := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, _, err = k.OpenRequest(dst[:0], "0190d8c2-5a3b-7c4d-8e9f-0a1b2c3d4e5f", "POST", "/v1/orders", env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWindow(b *testing.B) {
	var w Window
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n++
		w.Accept(n)
	}
}

func sizeName(n int) string { return strconv.Itoa(n>>10) + "KiB" }

// BenchmarkWrap is the gateway's share of a handshake: wrapping a new
// session key to the client's public key.
func BenchmarkWrap(b *testing.B) {
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, pub := range []any{x.PublicKey(), &r.PublicKey} {
		typ, b64, _ := EncodePublicKey(pub)
		p, err := ParsePublicKey(typ, b64)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ, func(b *testing.B) {
			key := GenerateKey()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Wrap("0190d8c2-5a3b-7c4d-8e9f-0a1b2c3d4e5f", key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
