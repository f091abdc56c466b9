package keygate_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

const day = 24 * 60 * 60

func TestRotationPolicyValidate(t *testing.T) {
	valid := keygate.RotationPolicy{Every: 30 * day, Overlap: 7 * day, Notice: 14 * day, Auto: true}
	tests := []struct {
		name  string
		edit  func(p *keygate.RotationPolicy)
		field string // "" when valid
	}{
		{"valid", func(*keygate.RotationPolicy) {}, ""},
		{"a day, no overlap nor notice, manual", func(p *keygate.RotationPolicy) { *p = keygate.RotationPolicy{Every: day} }, ""},
		{"ten years", func(p *keygate.RotationPolicy) { p.Every = keygate.MaxKeyTTL }, ""},
		{"every missing", func(p *keygate.RotationPolicy) { p.Every = 0 }, "rotation_policy.every"},
		{"every under a day", func(p *keygate.RotationPolicy) { p.Every = day - 1 }, "rotation_policy.every"},
		{"every over ten years", func(p *keygate.RotationPolicy) { p.Every = keygate.MaxKeyTTL + 1 }, "rotation_policy.every"},
		{"negative every", func(p *keygate.RotationPolicy) { p.Every = -30 * day }, "rotation_policy.every"},
		{"negative overlap", func(p *keygate.RotationPolicy) { p.Overlap = -1 }, "rotation_policy.overlap"},
		{"overlap over 30 days", func(p *keygate.RotationPolicy) { p.Every, p.Overlap = 90*day, 30*day+1 }, "rotation_policy.overlap"},
		{"overlap as long as every", func(p *keygate.RotationPolicy) { p.Every, p.Overlap, p.Notice = 2*day, 2*day, 0 }, "rotation_policy.overlap"},
		{"auto without overlap", func(p *keygate.RotationPolicy) { p.Overlap = 0 }, "rotation_policy.overlap"},
		{"auto with a short overlap", func(p *keygate.RotationPolicy) { p.Overlap = 3599 }, "rotation_policy.overlap"},
		{"manual without overlap", func(p *keygate.RotationPolicy) { p.Overlap, p.Auto = 0, false }, ""},
		{"negative notice", func(p *keygate.RotationPolicy) { p.Notice = -1 }, "rotation_policy.notice"},
		{"notice as long as every", func(p *keygate.RotationPolicy) { p.Notice = p.Every }, "rotation_policy.notice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid
			tt.edit(&p)
			wantInvalid(t, p.Validate(), tt.field)
			c := validConsumer()
			c.RotationPolicy = &p
			wantInvalid(t, c.Validate(), tt.field)
		})
	}
}

// x25519 returns a fixed X25519 key pair, the public key in base64.
func x25519(tb testing.TB, seed string) (*ecdh.PrivateKey, string) {
	tb.Helper()
	priv, err := ecdh.X25519().NewPrivateKey([]byte(strings.Repeat(seed, 32)[:32]))
	if err != nil {
		tb.Fatal(err)
	}
	return priv, base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes())
}

func TestParseRotationPublicKey(t *testing.T) {
	_, good := x25519(t, "a")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	order8, _ := hex.DecodeString("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
	tests := []struct {
		name, in string
		valid    bool
	}{
		{"valid", good, true},
		{"empty", "", false},
		{"not base64", "not base64 at all!", false},
		{"URL-safe base64", strings.NewReplacer("+", "-", "/", "_").Replace(b64(bytes.Repeat([]byte{0xfb}, 32))), false},
		{"unpadded", strings.TrimRight(good, "="), false},
		{"31 bytes", b64(make([]byte, 31)), false},
		{"33 bytes", b64(make([]byte, 33)), false},
		{"an ed25519-sized private key", b64(make([]byte, 64)), false},
		{"the zero point", b64(make([]byte, 32)), false},
		{"the point 1", b64(append([]byte{1}, make([]byte, 31)...)), false},
		{"a point of order 8", b64(order8), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := keygate.ParseRotationPublicKey(tt.in)
			if tt.valid {
				if err != nil || pub == nil {
					t.Fatalf("ParseRotationPublicKey: %v", err)
				}
				return
			}
			wantInvalid(t, err, "public_key")
			if tt.in != "" && strings.Contains(keygate.ErrorMessage(err), tt.in) {
				t.Errorf("the error echoes the input: %q", keygate.ErrorMessage(err))
			}
			c := validConsumer()
			c.PublicKey = tt.in
			if tt.in != "" {
				wantInvalid(t, c.Validate(), "public_key")
			}
		})
	}
}

func FuzzParseRotationPublicKey(f *testing.F) {
	_, good := x25519(f, "a")
	f.Add(good)
	f.Add("")
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := keygate.ParseRotationPublicKey(s)
		if err != nil {
			if keygate.ErrorCode(err) != keygate.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		// What parses can be sealed to.
		if _, err := keygate.SealRotatedKey(pub, "id", "key"); err != nil {
			t.Fatalf("parsed %q but cannot seal to it: %v", s, err)
		}
	})
}

func TestSealRotatedKey(t *testing.T) {
	priv, pubB64 := x25519(t, "a")
	other, _ := x25519(t, "b")
	pub, err := keygate.ParseRotationPublicKey(pubB64)
	if err != nil {
		t.Fatal(err)
	}
	const id, key = "0195a3c2-0000-7000-8000-000000000002", "kg_live_0123456789abcdef_abcdef"
	sealed, err := keygate.SealRotatedKey(pub, id, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	// The encapsulated key (32 bytes), the key, the AES-GCM tag (16 bytes).
	if err != nil || len(raw) != 32+len(key)+16 || strings.Contains(string(raw), key) {
		t.Fatalf("sealed %d bytes, %v", len(raw), err)
	}
	again, _ := keygate.SealRotatedKey(pub, id, key)
	if again == sealed {
		t.Error("two seals of one key are equal: no fresh encapsulation")
	}
	got, err := keygate.OpenRotatedKey(priv, id, sealed)
	if err != nil || got != key {
		t.Fatalf("opened %q, %v", got, err)
	}
	flipped := bytes.Clone(raw)
	flipped[40] ^= 1
	for name, open := range map[string]func() (string, error){
		"another private key": func() (string, error) { return keygate.OpenRotatedKey(other, id, sealed) },
		"another key id":      func() (string, error) { return keygate.OpenRotatedKey(priv, id[:len(id)-1]+"3", sealed) },
		"a changed byte": func() (string, error) {
			return keygate.OpenRotatedKey(priv, id, base64.StdEncoding.EncodeToString(flipped))
		},
		"not base64": func() (string, error) { return keygate.OpenRotatedKey(priv, id, "%%%") },
		"truncated":  func() (string, error) { return keygate.OpenRotatedKey(priv, id, sealed[:20]) },
		"no key":     func() (string, error) { return keygate.OpenRotatedKey(nil, id, sealed) },
	} {
		if got, err := open(); err == nil || got != "" {
			t.Errorf("%s: opened %q, %v", name, got, err)
		}
	}
	if _, err := keygate.SealRotatedKey(nil, id, key); err == nil {
		t.Error("sealed to no key")
	}
	p256, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keygate.SealRotatedKey(p256.PublicKey(), id, key); err == nil {
		t.Error("sealed to a P-256 key")
	}
}
