package apikey_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keygate/keygate/apikey"
)

// assertRedacted fails if out contains the secret or any 8 consecutive
// characters of it.
func assertRedacted(tb testing.TB, name, out string, k apikey.Key) {
	tb.Helper()
	secret := k.Secret()
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+8]) {
			tb.Errorf("%s: output %q contains part of the secret", name, out)
			return
		}
	}
}

func goldenParsed(tb testing.TB) apikey.Key {
	tb.Helper()
	return mustParse(tb, mustFormat(tb, "kg_live"), goldenKey)
}

func TestKeyFormatVerbs(t *testing.T) {
	k := goldenParsed(t)
	const r = "kg_live_AbCdEf…"
	tests := []struct {
		format string
		arg    any
		want   string // "": only check that it is redacted
	}{
		{"%v", k, r},
		{"%+v", k, r},
		{"%#v", k, r},
		{"%s", k, r},
		{"%q", k, `"` + r + `"`},
		{"%#q", k, "`" + r + "`"},
		{"%x", k, r},
		{"%X", k, r},
		{"%d", k, r},
		{"%20s", k, "     " + r},
		{"%-16v|", k, r + " |"},
		{"%.7s", k, "kg_live"},
		// fmt reports %p as a bad verb, printing Key's fields by
		// reflection; they hold an address, not the text.
		{"%p", k, ""},
		{"%T", k, "apikey.Key"},
		{"%v", &k, r},
		{"%+v", &k, r},
		{"%#v", &k, r},
		{"%v", []apikey.Key{k}, "[" + r + "]"},
		{"%v", map[string]apikey.Key{"a": k}, "map[a:" + r + "]"},
		{"%+v", struct{ K apikey.Key }{k}, "{K:" + r + "}"},
		{"%v", struct{ K *apikey.Key }{&k}, "{" + r + "}"},
		{"%v", fmt.Errorf("bad %v", k), "bad " + r},
		{"%v", apikey.Key{}, "<redacted>"},
		{"%q", apikey.Key{}, `"<redacted>"`},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %T", tt.format, tt.arg)
		t.Run(name, func(t *testing.T) {
			got := fmt.Sprintf(tt.format, tt.arg)
			if tt.want != "" && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			assertRedacted(t, name, got, k)
		})
	}
}

// fmt can't call methods on unexported fields and prints them by reflection;
// Key's layout makes that print an address, not the secret.
func TestKeyUnexportedField(t *testing.T) {
	k := goldenParsed(t)
	v := struct {
		name string
		key  apikey.Key
	}{"x", k}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assertRedacted(t, verb, fmt.Sprintf(verb, v), k)
		assertRedacted(t, verb+" pointer", fmt.Sprintf(verb, &v), k)
	}
	assertRedacted(t, "Sprint", fmt.Sprint(k, v, &k), k)
	assertRedacted(t, "Sprintln", fmt.Sprintln(k, v, &k), k)
}

func TestKeySlog(t *testing.T) {
	k := goldenParsed(t)
	type request struct {
		Key     apikey.Key
		KeyPtr  *apikey.Key
		private apikey.Key
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	}
	for name, newHandler := range handlers {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(newHandler(&buf))
			log.Info("auth", "key", k, "ptr", &k, slog.Any("req", request{k, &k, k}),
				slog.Group("g", "key", k), "zero", apikey.Key{})
			log.With("key", k).Info("with")
			out := buf.String()
			assertRedacted(t, name, out, k)
			if !strings.Contains(out, "kg_live_AbCdEf…") || !strings.Contains(out, "<redacted>") {
				t.Errorf("output lacks the redacted form: %s", out)
			}
		})
	}
}

func TestKeyMarshal(t *testing.T) {
	k := goldenParsed(t)
	v := struct {
		Key    apikey.Key
		Ptr    *apikey.Key
		Keys   []apikey.Key
		ByName map[string]apikey.Key
		Zero   apikey.Key
	}{k, &k, []apikey.Key{k}, map[string]apikey.Key{"a": k}, apikey.Key{}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"Key":"kg_live_AbCdEf…","Ptr":"kg_live_AbCdEf…","Keys":["kg_live_AbCdEf…"],"ByName":{"a":"kg_live_AbCdEf…"},"Zero":"\u003credacted\u003e"}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	text, err := k.MarshalText()
	if err != nil || string(text) != "kg_live_AbCdEf…" {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
}

func TestKeyEqual(t *testing.T) {
	f := mustFormat(t, "kg_live", "kg_old")
	k := goldenParsed(t)
	// Parsed from a different copy of the same text: Equal compares
	// contents, not addresses.
	same := mustParse(t, f, strings.Clone(goldenKey))
	tests := []struct {
		name string
		a, b apikey.Key
		want bool
	}{
		{"same key", k, same, true},
		{"generated", k, mustGenerate(t, f), false},
		{"other secret", k, mustParse(t, f, makeKey(t, "kg_live", goldenID, strings.Repeat("A", 32))), false},
		{"other identifier", k, mustParse(t, f, makeKey(t, "kg_live", "AbCdEfGhIjKm", goldenSecret)), false},
		{"other prefix", k, mustParse(t, f, makeKey(t, "kg_old", goldenID, goldenSecret)), false},
		{"longer secret", k, mustParse(t, f, makeKey(t, "kg_live", goldenID, goldenSecret+"x")), false},
		{"zero and key", apikey.Key{}, k, false},
		{"zero and zero", apikey.Key{}, apikey.Key{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("a.Equal(b) = %v, want %v", got, tt.want)
			}
			if got := tt.b.Equal(tt.a); got != tt.want {
				t.Errorf("b.Equal(a) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeySecretEqual(t *testing.T) {
	k := goldenParsed(t)
	tests := []struct {
		name   string
		key    apikey.Key
		secret string
		want   bool
	}{
		{"match", k, goldenSecret, true},
		{"one char off", k, goldenSecret[:31] + "z", false},
		{"prefix of secret", k, goldenSecret[:31], false},
		{"longer", k, goldenSecret + "0", false},
		{"empty", k, "", false},
		{"identifier", k, goldenID, false},
		{"zero key, empty secret", apikey.Key{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.SecretEqual(tt.secret); got != tt.want {
				t.Errorf("SecretEqual = %v, want %v", got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { k.SecretEqual(goldenSecret) }); n != 0 {
		t.Errorf("SecretEqual allocates %v times, want 0", n)
	}
}

func TestKeyZero(t *testing.T) {
	var k apikey.Key
	if !k.IsZero() || k.Prefix() != "" || k.Identifier() != "" || k.Secret() != "" ||
		k.Reveal() != "" || k.Start() != "" || k.String() != "<redacted>" {
		t.Errorf("zero key: %q %q %q %q %q %q", k.Prefix(), k.Identifier(), k.Secret(), k.Reveal(), k.Start(), k.String())
	}
	if goldenParsed(t).IsZero() {
		t.Error("parsed key IsZero")
	}
}
