package apikey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/apikey"
)

// The golden key: prefix "kg_live", identifier "AbCdEfGhIjKl" and a fixed
// 32-character secret. Its checksum was computed once (and checked against
// Python's zlib.crc32) and is pinned here, so any change to the format fails.
const (
	goldenID     = "AbCdEfGhIjKl"
	goldenSecret = "0123456789abcdefghijABCDEFGHIJxy"
	goldenSum    = "0lanVB"
	goldenKey    = "kg_live_AbCdEfGhIjKl0123456789abcdefghijABCDEFGHIJxy_0lanVB"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func mustFormat(tb testing.TB, prefix string, accepted ...string) *apikey.Format {
	tb.Helper()
	f, err := apikey.NewFormat(prefix, accepted...)
	if err != nil {
		tb.Fatalf("NewFormat: %v", err)
	}
	return f
}

func mustParse(tb testing.TB, f *apikey.Format, s string) apikey.Key {
	tb.Helper()
	k, err := f.Parse(s)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", s, err)
	}
	return k
}

func mustGenerate(tb testing.TB, f *apikey.Format) apikey.Key {
	tb.Helper()
	k, err := f.Generate()
	if err != nil {
		tb.Fatalf("Generate: %v", err)
	}
	return k
}

// makeKey assembles a key from its parts with a correct checksum, so tests
// can aim at one rule at a time.
func makeKey(tb testing.TB, prefix, id, secret string) string {
	tb.Helper()
	body := prefix + "_" + id + secret
	return body + "_" + apikey.Checksum(body)
}

func TestGolden(t *testing.T) {
	body := "kg_live_" + goldenID + goldenSecret
	if got := apikey.Checksum(body); got != goldenSum {
		t.Errorf("Checksum(%q) = %q, want %q", body, got, goldenSum)
	}
	if got := makeKey(t, "kg_live", goldenID, goldenSecret); got != goldenKey {
		t.Errorf("key = %q, want %q", got, goldenKey)
	}
	k := mustParse(t, mustFormat(t, "kg_live"), goldenKey)
	if k.Prefix() != "kg_live" || k.Identifier() != goldenID || k.Secret() != goldenSecret ||
		k.Reveal() != goldenKey || k.Start() != "kg_live_AbCdEf" {
		t.Errorf("parts = %q %q %q %q %q", k.Prefix(), k.Identifier(), k.Secret(), k.Reveal(), k.Start())
	}
}

func TestChecksumGolden(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "000000"},
		{"a", "4GEHKN"},
		{"kg_live", "3gNTsQ"},
		{"The quick brown fox jumps over the lazy dog", "1C9bYH"}, // CRC-32 0x414FA339
	}
	for _, tt := range tests {
		if got := apikey.Checksum(tt.in); got != tt.want {
			t.Errorf("Checksum(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewFormat(t *testing.T) {
	long := strings.Repeat("a", 33)
	tests := []struct {
		name     string
		prefix   string
		accepted []string
		wantErr  string // substring; "" means valid
	}{
		{name: "simple", prefix: "kg_live"},
		{name: "one letter", prefix: "k"},
		{name: "upper and digits", prefix: "KG2_x9"},
		{name: "32 chars", prefix: "a_" + strings.Repeat("b", 30)},
		{name: "with accepted", prefix: "kg_live", accepted: []string{"kg_old", "sk"}},
		{name: "empty", prefix: "", wantErr: "prefix is 0 characters"},
		{name: "33 chars", prefix: long, wantErr: "1 to 32"},
		{name: "starts with digit", prefix: "1kg", wantErr: "start with a letter"},
		{name: "starts with underscore", prefix: "_kg", wantErr: "start with a letter"},
		{name: "ends with underscore", prefix: "kg_", wantErr: `"kg_" must not end`},
		{name: "double underscore", prefix: "kg__live", wantErr: "__"},
		{name: "dash", prefix: "kg-live", wantErr: "only letters"},
		{name: "space", prefix: "kg live", wantErr: "only letters"},
		{name: "unicode", prefix: "kgé", wantErr: "only letters"},
		{name: "bad accepted", prefix: "kg_live", accepted: []string{"ok", "bad-"}, wantErr: `accepted prefix 2 "bad-"`},
		// A key pasted into the prefix setting must not end up in the error.
		{name: "key as accepted", prefix: "kg_live", accepted: []string{goldenKey}, wantErr: "accepted prefix 1 is 59 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apikey.NewFormat(tt.prefix, tt.accepted...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), goldenSecret):
				t.Fatalf("error %q contains the key", err)
			}
		})
	}
}

func TestGenerateParse(t *testing.T) {
	for _, prefix := range []string{"kg_live", "kg_test", "k", "a_b_c_d", "Z9_" + strings.Repeat("x", 29)} {
		t.Run(prefix, func(t *testing.T) {
			f := mustFormat(t, prefix)
			k := mustGenerate(t, f)
			s := k.Reveal()
			if strings.Trim(s, base62+"_") != "" {
				t.Errorf("key %q has characters outside [0-9A-Za-z_]", s)
			}
			if k.Prefix() != prefix || len(k.Identifier()) != 12 || len(k.Secret()) != 32 {
				t.Errorf("prefix %q, identifier length %d, secret length %d", k.Prefix(), len(k.Identifier()), len(k.Secret()))
			}
			p := mustParse(t, f, s)
			if p.Reveal() != s || p.Prefix() != prefix || p.Identifier() != k.Identifier() || p.Secret() != k.Secret() {
				t.Errorf("Parse(Reveal()) = %q %q %q, want %q", p.Prefix(), p.Identifier(), p.Reveal(), s)
			}
			if !p.Equal(k) || !p.SecretEqual(k.Secret()) {
				t.Error("parsed key not Equal to generated key")
			}
		})
	}
}

func TestGenerateUnique(t *testing.T) {
	f := mustFormat(t, "kg_live")
	seen := make(map[string]bool)
	for range 10000 {
		id := mustGenerate(t, f).Identifier()
		if seen[id] {
			t.Fatalf("identifier %q generated twice", id)
		}
		seen[id] = true
	}
}

func TestParse(t *testing.T) {
	f := mustFormat(t, "kg_live", "kg_old", "sk")
	long := strings.Repeat("A", 128)
	tests := []struct {
		name string
		in   string
		want error // nil: valid
	}{
		{"golden", goldenKey, nil},
		{"old accepted prefix", makeKey(t, "kg_old", goldenID, goldenSecret), nil},
		{"other accepted prefix", makeKey(t, "sk", goldenID, goldenSecret), nil},
		{"128-char secret", makeKey(t, "kg_live", goldenID, long), nil},
		{"empty", "", apikey.ErrMalformed},
		{"no underscore", "kglive" + goldenID + goldenSecret + goldenSum, apikey.ErrMalformed},
		{"only checksum underscore", goldenID + goldenSecret + "_" + goldenSum, apikey.ErrMalformed},
		{"just underscores", "__", apikey.ErrMalformed},
		{"checksum too short", goldenKey[:len(goldenKey)-1], apikey.ErrMalformed},
		{"checksum too long", goldenKey + "0", apikey.ErrMalformed},
		{"no checksum", goldenKey[:len(goldenKey)-7], apikey.ErrMalformed},
		{"secret too short", makeKey(t, "kg_live", goldenID, goldenSecret[:31]), apikey.ErrMalformed},
		{"secret too long", makeKey(t, "kg_live", goldenID, long+"A"), apikey.ErrMalformed},
		{"secret missing", makeKey(t, "kg_live", goldenID, ""), apikey.ErrMalformed},
		{"dash in secret", makeKey(t, "kg_live", goldenID, "-"+goldenSecret[1:]), apikey.ErrMalformed},
		{"dot in identifier", makeKey(t, "kg_live", "."+goldenID[1:], goldenSecret), apikey.ErrMalformed},
		{"space in secret", makeKey(t, "kg_live", goldenID, goldenSecret[:10]+" "+goldenSecret[11:]), apikey.ErrMalformed},
		{"unicode in secret", makeKey(t, "kg_live", goldenID, "é"+goldenSecret[2:]), apikey.ErrMalformed},
		{"NUL in secret", makeKey(t, "kg_live", goldenID, "\x00"+goldenSecret[1:]), apikey.ErrMalformed},
		{"dash in checksum", goldenKey[:len(goldenKey)-1] + "-", apikey.ErrMalformed},
		{"dash in prefix", makeKey(t, "kg-live", goldenID, goldenSecret), apikey.ErrMalformed},
		{"prefix starts with digit", makeKey(t, "1kg", goldenID, goldenSecret), apikey.ErrMalformed},
		{"prefix with double underscore", makeKey(t, "kg__live", goldenID, goldenSecret), apikey.ErrMalformed},
		{"empty prefix", makeKey(t, "", goldenID, goldenSecret), apikey.ErrMalformed},
		{"prefix too long", makeKey(t, strings.Repeat("k", 33), goldenID, goldenSecret), apikey.ErrMalformed},
		{"leading space", " " + goldenKey, apikey.ErrMalformed},
		{"trailing newline", goldenKey + "\n", apikey.ErrMalformed},
		{"over 256 bytes", strings.Repeat("k", 257), apikey.ErrMalformed},
		{"over 256 bytes, valid shape", makeKey(t, "kg_live", goldenID, long) + strings.Repeat("x", 100), apikey.ErrMalformed},
		{"unknown prefix", makeKey(t, "kg_test", goldenID, goldenSecret), apikey.ErrUnknownPrefix},
		{"prefix wrong case", makeKey(t, "KG_LIVE", goldenID, goldenSecret), apikey.ErrUnknownPrefix},
		{"checksum wrong", goldenKey[:len(goldenKey)-6] + "000000", apikey.ErrChecksum},
		{"checksum above 2^32", goldenKey[:len(goldenKey)-6] + "zzzzzz", apikey.ErrChecksum},
		{"checksum of other prefix", "kg_live" + makeKey(t, "kg_old", goldenID, goldenSecret)[6:], apikey.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil {
				if k.Reveal() != tt.in {
					t.Errorf("Reveal() = %q, want %q", k.Reveal(), tt.in)
				}
				return
			}
			if !k.IsZero() {
				t.Error("key not zero on error")
			}
			if msg := err.Error(); tt.in != "" && strings.Contains(msg, tt.in) || strings.Contains(msg, goldenSecret[:8]) {
				t.Errorf("error %q echoes the input", msg)
			}
		})
	}
}

// TestParseEveryChange replaces each character of a valid key with every
// other key character: Parse must reject every result.
func TestParseEveryChange(t *testing.T) {
	f := mustFormat(t, "kg_live", "kg_old")
	for i := range len(goldenKey) {
		for _, c := range []byte(base62 + "_") {
			if c == goldenKey[i] {
				continue
			}
			s := goldenKey[:i] + string(c) + goldenKey[i+1:]
			if _, err := f.Parse(s); err == nil {
				t.Errorf("Parse accepted %q (position %d changed to %q)", s, i, c)
			}
		}
	}
}

func TestParseAllocs(t *testing.T) {
	f := mustFormat(t, "kg_live", "kg_old")
	old := makeKey(t, "kg_old", goldenID, goldenSecret)
	bad := goldenKey[:len(goldenKey)-6] + "000000"
	for _, s := range []string{goldenKey, old, bad, "", "kg_nope_x_y"} {
		if n := testing.AllocsPerRun(100, func() { f.Parse(s) }); n != 0 {
			t.Errorf("Parse(%q) allocates %v times, want 0", s, n)
		}
	}
}

func FuzzParse(f *testing.F) {
	fm := mustFormat(f, "kg_live", "kg_old", "sk")
	for _, s := range []string{
		goldenKey,
		makeKey(f, "kg_old", goldenID, goldenSecret),
		makeKey(f, "sk", goldenID, strings.Repeat("z", 128)),
		makeKey(f, "kg_test", goldenID, goldenSecret),
		mustGenerate(f, fm).Reveal(),
		goldenKey[:len(goldenKey)-6] + "000000",
		goldenKey[:len(goldenKey)-6] + "zzzzzz",
		"", "_", "__", "kg_live__", "kg_live_é_000000", strings.Repeat("_", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := fm.Parse(s)
		if err != nil {
			// Only the bare sentinels, whose text is fixed, so no input can
			// show up in an error.
			if err != apikey.ErrMalformed && err != apikey.ErrUnknownPrefix && err != apikey.ErrChecksum {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if k.Reveal() != s {
			t.Fatalf("Reveal() = %q, want %q", k.Reveal(), s)
		}
		i := strings.LastIndexByte(s, '_')
		if apikey.Checksum(s[:i]) != s[i+1:] || len(k.Identifier()) != 12 ||
			len(k.Secret()) < 32 || len(k.Secret()) > 128 ||
			k.Prefix()+"_"+k.Identifier()+k.Secret()+"_"+s[i+1:] != s {
			t.Fatalf("inconsistent parse of %q", s)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	f := mustFormat(b, "kg_live", "kg_old")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Parse(goldenKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	f := mustFormat(b, "kg_live")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Generate(); err != nil {
			b.Fatal(err)
		}
	}
}
