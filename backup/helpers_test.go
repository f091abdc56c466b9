package backup

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// testRootKey is a keygate.RootKey for tests: AES-256-GCM with a random
// nonce in front of the ciphertext.
type testRootKey struct{ aead cipher.AEAD }

func newTestRootKey(tb testing.TB, key []byte) *testRootKey {
	tb.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		tb.Fatal(err)
	}
	return &testRootKey{aead}
}

// randomRootKey returns a root key with a fresh random key.
func randomRootKey(tb testing.TB) *testRootKey {
	tb.Helper()
	return newTestRootKey(tb, randomBytes(tb, 32, rand.Uint64()))
}

func (k *testRootKey) Seal(_ context.Context, plaintext, ad []byte) ([]byte, error) {
	return k.aead.Seal(nil, nil, plaintext, ad), nil
}

func (k *testRootKey) Open(_ context.Context, sealed, ad []byte) ([]byte, error) {
	return k.aead.Open(nil, nil, sealed, ad)
}

// randomBytes returns n pseudo-random bytes, the same for the same seed.
func randomBytes(tb testing.TB, n int, seed uint64) []byte {
	tb.Helper()
	b := make([]byte, n)
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	if _, err := rand.NewChaCha8(s).Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

var testHeader = Header{
	CreatedAt:      time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
	KeygateVersion: "v1.2.3",
	Store:          "sqlite",
	Extra:          map[string]string{"schema_version": "7"},
}

// seal writes plaintext as a backup with the given chunk size, in writes of
// at most piece bytes (0: one write).
func seal(tb testing.TB, root *testRootKey, size int, plaintext []byte, piece int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := newWriter(context.Background(), &buf, root, testHeader, size)
	if err != nil {
		tb.Fatalf("newWriter: %v", err)
	}
	if piece <= 0 {
		piece = max(len(plaintext), 1)
	}
	for p := plaintext; len(p) > 0; {
		k := min(piece, len(p))
		n, err := w.Write(p[:k])
		if err != nil || n != k {
			tb.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// open reads a whole backup with the given chunk size. err is nil only when
// the Reader returned io.EOF.
func open(tb testing.TB, root *testRootKey, size int, file []byte) ([]byte, Header, error) {
	tb.Helper()
	r, h, err := newReader(context.Background(), bytes.NewReader(file), root, size)
	if err != nil {
		return nil, h, err
	}
	got, err := io.ReadAll(r)
	return got, h, err
}

// headerLen returns the length of a backup's header, read from its length
// fields.
func headerLen(tb testing.TB, file []byte) int {
	tb.Helper()
	m := int(binary.BigEndian.Uint32(file[16:]))
	k := int(binary.BigEndian.Uint32(file[27+m:]))
	return 31 + m + k + 32
}

// chunkBounds returns the start offsets of a well-formed file's chunks and,
// last, the file length.
func chunkBounds(tb testing.TB, file []byte, size int) []int {
	tb.Helper()
	var b []int
	for off := headerLen(tb, file); ; off += size + tagSize {
		b = append(b, off)
		if off+size+tagSize >= len(file) {
			return append(b, len(file))
		}
	}
}

// The spec helpers encode and decode the format from the package
// documentation alone, with the primitives directly, so that a change to the
// package that breaks the documented format fails the tests.

// specEncode builds a backup from its parts; the last of chunks gets the
// last-chunk flag.
func specEncode(tb testing.TB, root *testRootKey, meta, fileKey, prefix []byte, chunks [][]byte) []byte {
	tb.Helper()
	var f []byte
	f = append(f, "KEYGATE-BACKUP\n"...)
	f = append(f, 1)
	f = binary.BigEndian.AppendUint32(f, uint32(len(meta)))
	f = append(f, meta...)
	f = append(f, prefix...)
	sealed, _ := root.Seal(context.Background(), fileKey, f)
	f = binary.BigEndian.AppendUint32(f, uint32(len(sealed)))
	f = append(f, sealed...)
	hash := sha256.Sum256(f)
	f = append(f, hash[:]...)
	aead := specAEAD(tb, fileKey, prefix)
	for i, c := range chunks {
		f = aead.Seal(f, specNonce(prefix, i, i == len(chunks)-1), c, hash[:])
	}
	return f
}

// specDecode checks a backup written with chunks of size bytes and returns
// its metadata and plaintext.
func specDecode(tb testing.TB, root *testRootKey, f []byte, size int) (meta, plaintext []byte) {
	tb.Helper()
	if string(f[:15]) != "KEYGATE-BACKUP\n" || f[15] != 1 {
		tb.Fatalf("magic and version = %q", f[:16])
	}
	m := int(binary.BigEndian.Uint32(f[16:20]))
	meta = f[20 : 20+m]
	prefix := f[20+m : 27+m]
	k := int(binary.BigEndian.Uint32(f[27+m : 31+m]))
	sealed := f[31+m : 31+m+k]
	if hash := sha256.Sum256(f[:31+m+k]); !bytes.Equal(hash[:], f[31+m+k:63+m+k]) {
		tb.Fatal("header hash does not match")
	}
	hash := f[31+m+k : 63+m+k]
	fileKey, err := root.Open(context.Background(), sealed, f[:27+m])
	if err != nil {
		tb.Fatalf("opening the file key: %v", err)
	}
	aead := specAEAD(tb, fileKey, prefix)
	plaintext = []byte{}
	body := f[63+m+k:]
	for i := 0; ; i++ {
		n := min(len(body), size+16)
		last := n == len(body)
		p, err := aead.Open(nil, specNonce(prefix, i, last), body[:n], hash)
		if err != nil {
			tb.Fatalf("chunk %d (last %v): %v", i, last, err)
		}
		if !last && len(p) != size {
			tb.Fatalf("chunk %d has %d bytes, want %d", i, len(p), size)
		}
		plaintext = append(plaintext, p...)
		if last {
			if len(p) == 0 && i > 0 {
				tb.Fatalf("empty last chunk %d", i)
			}
			return meta, plaintext
		}
		body = body[n:]
	}
}

func specAEAD(tb testing.TB, fileKey, prefix []byte) cipher.AEAD {
	tb.Helper()
	key, err := hkdf.Key(sha256.New, fileKey, prefix, "keygate backup v1 chunk key", 32)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead
}

func specNonce(prefix []byte, i int, last bool) []byte {
	n := append([]byte(nil), prefix...)
	n = binary.BigEndian.AppendUint32(n, uint32(i))
	if last {
		return append(n, 1)
	}
	return append(n, 0)
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
