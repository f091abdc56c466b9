package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"testing"

	"github.com/keygate/keygate"
)

func testKeyring(tb testing.TB, versions int) *Keyring {
	tb.Helper()
	root, err := NewLocalRootKey(randomKey())
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	var stored []*keygate.KeyringVersion
	for n := 1; n <= versions; n++ {
		v, _, err := newVersion(ctx, root, n)
		if err != nil {
			tb.Fatal(err)
		}
		stored = append(stored, v)
	}
	k, err := Open(ctx, root, stored)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Crypto-shredding: once a record's data key is gone, its ciphertext opens
// with no key-encryption key, under any additional data, with or without the
// format byte.
func TestShredded(t *testing.T) {
	k := testKeyring(t, 3)
	plaintext := []byte("shred me")
	s, err := k.Seal("hmac_credential", "cred_1", plaintext)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := k.Seal("hmac_credential", "cred_2", plaintext)

	wrap, sealed := additionalData(s.Version, s.Kind, s.ID)
	for n, kk := range k.snap.Load().keks {
		gcm := rawGCM(t, kk.key)
		for _, ad := range [][]byte{nil, wrap, sealed, versionAD(n)} {
			if _, err := open(kk.aead, s.Ciphertext, ad); err == nil {
				t.Fatalf("keyring version %d opens the ciphertext", n)
			}
			ct := s.Ciphertext[1:]
			if _, err := gcm.Open(nil, ct[:12], ct[12:], ad); err == nil {
				t.Fatalf("keyring version %d, used raw, opens the ciphertext", n)
			}
		}
	}
	// Nor does the record open with the data key gone, or with another's.
	for _, dk := range []keygate.DataKey{{}, {Version: s.Version}, other.DataKey} {
		gone := *s
		gone.DataKey = dk
		if _, err := k.Open(&gone); err == nil {
			t.Fatalf("opened without its data key (%+v)", dk)
		}
	}
	if got, err := k.Open(s); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func rawGCM(tb testing.TB, key []byte) cipher.AEAD {
	tb.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// The additional data layouts are part of the stored format: pinned.
func TestAdditionalDataGolden(t *testing.T) {
	wrap, sealed := additionalData(2, "a", "bc")
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"keyring version", versionAD(12), hex.EncodeToString([]byte("keygate/keyring/v12"))},
		{"data key", wrap, hex.EncodeToString([]byte("keygate/datakey\x00")) + "00000002" + "00000001" + "61" + "00000002" + "6263"},
		{"secret", sealed, hex.EncodeToString([]byte("keygate/sealed\x00")) + "00000001" + "61" + "00000002" + "6263"},
		{"data key, alone", wrapAD(2, "a", "bc"), hex.EncodeToString(wrap)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.got); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	w2, s2 := additionalData(2, "ab", "c")
	if bytes.Equal(wrap, w2) || bytes.Equal(sealed, s2) {
		t.Error(`("a", "bc") and ("ab", "c") give the same additional data`)
	}
}

// Seal and Open work under a random nonce, prepended after the format byte.
func TestBlobLayout(t *testing.T) {
	key := randomKey()
	a, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	blob := seal(a, []byte("hello"), []byte("ad"))
	if blob[0] != formatV1 || len(blob) != 1+12+5+16 {
		t.Fatalf("blob %x", blob)
	}
	pt, err := rawGCM(t, key).Open(nil, blob[1:13], blob[13:], []byte("ad"))
	if err != nil || string(pt) != "hello" {
		t.Fatalf("standard GCM opens %q, %v", pt, err)
	}
}
