package keyring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/keyring"
)

// testRootKey is bytes 0..31; its text form and fingerprint are pinned below.
var testRootKey = func() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}()

const testRootKeyText = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func newRoot(tb testing.TB) *keyring.LocalRootKey {
	tb.Helper()
	key, err := keyring.GenerateRootKey()
	if err != nil {
		tb.Fatalf("GenerateRootKey: %v", err)
	}
	root, err := keyring.NewLocalRootKey(key)
	if err != nil {
		tb.Fatalf("NewLocalRootKey: %v", err)
	}
	return root
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := keygate.ErrorCode(err); got != code {
		tb.Fatalf("error code %q, want %q (error: %v)", got, code, err)
	}
}

func TestNewLocalRootKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		len  int
		ok   bool
	}{
		{"empty", 0, false},
		{"16 bytes", 16, false},
		{"31 bytes", 31, false},
		{"32 bytes", 32, true},
		{"33 bytes", 33, false},
		{"64 bytes", 64, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.NewLocalRootKey(make([]byte, tc.len))
			if tc.ok {
				if err != nil {
					t.Fatalf("NewLocalRootKey: %v", err)
				}
				return
			}
			wantCode(t, err, keygate.EINVALID)
		})
	}
}

func TestLocalRootKey(t *testing.T) {
	ctx := context.Background()
	root, other := newRoot(t), newRoot(t)
	plaintext, ad := []byte("a key-encryption key"), []byte("keygate/keyring/v1")
	sealed, err := root.Seal(ctx, plaintext, ad)
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 1 || len(sealed) != 1+12+len(plaintext)+16 {
		t.Fatalf("sealed is %d bytes starting %#x, want format byte 1 and %d bytes", len(sealed), sealed[0], 1+12+len(plaintext)+16)
	}
	again, _ := root.Seal(ctx, plaintext, ad)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same plaintext are equal: the nonce is not random")
	}
	got, err := root.Open(ctx, sealed, ad)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plaintext)
	}

	for _, tc := range []struct {
		name   string
		key    *keyring.LocalRootKey
		sealed []byte
		ad     []byte
	}{
		{"other key", other, sealed, ad},
		{"other additional data", root, sealed, []byte("keygate/keyring/v2")},
		{"no additional data", root, sealed, nil},
		{"empty", root, nil, ad},
		{"format byte only", root, sealed[:1], ad},
		{"truncated", root, sealed[:len(sealed)-1], ad},
		{"unknown format", root, append([]byte{2}, sealed[1:]...), ad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.Open(ctx, tc.sealed, tc.ad)
			if err == nil {
				t.Fatalf("Open succeeded: %q", got)
			}
			if strings.Contains(err.Error(), string(plaintext)) {
				t.Fatalf("error shows the plaintext: %v", err)
			}
		})
	}
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		if _, err := root.Open(ctx, b, ad); err == nil {
			t.Fatalf("Open succeeded with byte %d flipped", i)
		}
	}
}

func TestLocalRootKeyPrintsNoKey(t *testing.T) {
	root, err := keyring.NewLocalRootKey(testRootKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{root.String(), fmt.Sprint(root), fmt.Sprintf("%v %+v", root, *root)} {
		if strings.Contains(s, testRootKeyText) || strings.Contains(s, string(testRootKey)) {
			t.Fatalf("printed root key shows the key: %s", s)
		}
	}
	if want := "root key " + keyring.Fingerprint(testRootKey); root.String() != want {
		t.Errorf("String = %q, want %q", root.String(), want)
	}
}

func TestFingerprint(t *testing.T) {
	// Pinned; checked with
	// openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f <<< -n "keygate root key fingerprint"
	const want = "265d0638a9d36bec"
	if got := keyring.Fingerprint(testRootKey); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	other, _ := keyring.GenerateRootKey()
	if keyring.Fingerprint(other) == want {
		t.Error("two keys have the same fingerprint")
	}
}

func TestGenerateRootKey(t *testing.T) {
	a, err := keyring.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := keyring.GenerateRootKey()
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("GenerateRootKey gave %d bytes, equal twice: %v", len(a), bytes.Equal(a, b))
	}
}

func TestEncodeParseRootKey(t *testing.T) {
	if got := keyring.EncodeRootKey(testRootKey); got != testRootKeyText {
		t.Fatalf("EncodeRootKey = %s, want %s", got, testRootKeyText)
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", testRootKeyText, true},
		{"newline", testRootKeyText + "\n", true},
		{"surrounding whitespace", " \t\r\n" + testRootKeyText + "\r\n\t ", true},
		{"empty", "", false},
		{"whitespace", " \n", false},
		{"unpadded", strings.TrimRight(testRootKeyText, "="), false},
		{"url alphabet", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_", false},
		{"bad character", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8=", false},
		{"space inside", "AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwdHh8=", false},
		{"non-canonical padding bits", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", false},
		{"16 bytes", "AAECAwQFBgcICQoLDA0ODw==", false},
		{"33 bytes", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", false},
		{"hex", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := keyring.ParseRootKey(tc.in)
			if tc.ok {
				if err != nil || !bytes.Equal(key, testRootKey) {
					t.Fatalf("ParseRootKey = %x, %v", key, err)
				}
				return
			}
			wantCode(t, err, keygate.EINVALID)
			if in := strings.TrimSpace(tc.in); in != "" && strings.Contains(err.Error(), in) {
				t.Fatalf("error echoes the input: %v", err)
			}
		})
	}
}

func writeFile(tb testing.TB, content string, mode os.FileMode) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "root.key")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not subject to umask
		tb.Fatal(err)
	}
	return path
}

func TestReadRootKeyFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false},
		{0o620, false},
		{0o604, false},
		{0o602, false},
		{0o644, false},
		{0o660, false},
		{0o666, false},
		{0o610, false},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			path := writeFile(t, testRootKeyText+"\n", tc.mode)
			key, err := keyring.ReadRootKeyFile(path)
			if tc.ok {
				if err != nil || !bytes.Equal(key, testRootKey) {
					t.Fatalf("ReadRootKeyFile = %x, %v", key, err)
				}
				return
			}
			if err == nil {
				t.Fatal("ReadRootKeyFile accepted the file")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
				t.Errorf("error does not name the path and say chmod 600: %v", err)
			}
			if strings.Contains(msg, testRootKeyText) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}

func TestReadRootKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		path    string
		secret  string // must not be in the error
		notExit bool
	}{
		{name: "missing", path: filepath.Join(dir, "missing"), notExit: true},
		{name: "directory", path: dir},
		{name: "not base64", path: writeFile(t, "my-root-key-is-a-password", 0o600), secret: "my-root-key-is-a-password"},
		{name: "short key", path: writeFile(t, "c2hvcnQgc2VjcmV0IHZhbHVl\n", 0o600), secret: "c2hvcnQgc2VjcmV0IHZhbHVl"},
		{name: "too large", path: writeFile(t, strings.Repeat(testRootKeyText, 100), 0o600), secret: testRootKeyText},
		{name: "empty", path: writeFile(t, "", 0o600)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.ReadRootKeyFile(tc.path)
			if err == nil {
				t.Fatal("ReadRootKeyFile succeeded")
			}
			if tc.notExit != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v: %v", !tc.notExit, err)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error does not name the path: %v", err)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error shows the file's content: %v", err)
			}
		})
	}
}

func TestWriteRootKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if err := keyring.WriteRootKeyFile(path, testRootKey); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	key, err := keyring.ReadRootKeyFile(path)
	if err != nil || !bytes.Equal(key, testRootKey) {
		t.Fatalf("ReadRootKeyFile = %x, %v", key, err)
	}

	// Never overwrite: the old key stays.
	other, _ := keyring.GenerateRootKey()
	err = keyring.WriteRootKeyFile(path, other)
	wantCode(t, err, keygate.ECONFLICT)
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the path: %v", err)
	}
	if key, _ := keyring.ReadRootKeyFile(path); !bytes.Equal(key, testRootKey) {
		t.Fatal("WriteRootKeyFile overwrote an existing key")
	}

	short := filepath.Join(t.TempDir(), "short.key")
	wantCode(t, keyring.WriteRootKeyFile(short, testRootKey[:16]), keygate.EINVALID)
	if _, err := os.Stat(short); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key of the wrong length left a file behind: %v", err)
	}
}

func FuzzParseRootKey(f *testing.F) {
	for _, s := range []string{testRootKeyText, " " + testRootKeyText + "\n", "", "AAAA", "====", "AAECAwQFBgcICQoLDA0ODw=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := keyring.ParseRootKey(s)
		if err != nil {
			// Only fixed messages, so nothing of the input can show.
			var n int
			msg := keygate.ErrorMessage(err)
			if _, serr := fmt.Sscanf(msg, "root key is %d bytes, must be 32", &n); serr != nil &&
				msg != "root key is not valid base64 (standard alphabet, padded)" {
				t.Fatalf("unexpected error message: %q", msg)
			}
			return
		}
		if len(key) != 32 {
			t.Fatalf("parsed %d bytes", len(key))
		}
		if again, err := keyring.ParseRootKey(keyring.EncodeRootKey(key)); err != nil || !bytes.Equal(again, key) {
			t.Fatalf("round trip: %x, %v", again, err)
		}
	})
}
