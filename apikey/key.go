package apikey

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"unsafe"
)

// redacted is how the zero Key prints.
const redacted = "<redacted>"

// A Key is a parsed or generated API key. Every way of printing or encoding
// it (String, fmt verbs, slog, JSON, text) shows only the prefix and the
// start of the identifier; only Reveal and Secret return the secret.
//
// Keys can't be compared with ==; use Equal, which is constant time.
type Key struct {
	_ [0]func() // makes Key incomparable

	// The key text is held as a pointer and lengths rather than as strings
	// so that fmt, when it prints a struct holding a Key in an unexported
	// field (where it can't call Key's methods), prints an address rather
	// than the secret. Parse points p into its input, so it doesn't copy.
	p   *byte
	n   int // length of the whole key
	pre int // length of the prefix
}

func newKey(s string, prefixLen int) Key {
	return Key{p: unsafe.StringData(s), n: len(s), pre: prefixLen}
}

func (k Key) raw() string { return unsafe.String(k.p, k.n) }

// IsZero reports whether k is the zero Key, which no Format produces.
func (k Key) IsZero() bool { return k.p == nil }

// Prefix returns the key's prefix, such as "kg_live".
func (k Key) Prefix() string { return k.raw()[:k.pre] }

// Identifier returns the key's public identifier, used to look the key up.
func (k Key) Identifier() string {
	if k.IsZero() {
		return ""
	}
	return k.raw()[k.pre+1 : k.pre+1+idLen]
}

// Secret returns the key's secret. It is only for hashing and constant-time
// comparison: never log, store or display it.
func (k Key) Secret() string {
	if k.IsZero() {
		return ""
	}
	return k.raw()[k.pre+1+idLen : k.n-1-checksumLen]
}

// idSecret returns identifier and secret, which are adjacent in the key.
func (k Key) idSecret() string {
	if k.IsZero() {
		return ""
	}
	return k.raw()[k.pre+1 : k.n-1-checksumLen]
}

// Reveal returns the whole key, secret included. It is meant to be called
// once, to show a new key to its owner.
func (k Key) Reveal() string { return k.raw() }

// Start returns the prefix and the first 6 characters of the identifier, for
// display: it tells keys apart without revealing any of the secret.
func (k Key) Start() string {
	if k.IsZero() {
		return ""
	}
	return k.raw()[:k.pre+1+6]
}

// Equal reports whether k and o are the same non-zero key, comparing the
// secrets in constant time. A zero Key equals nothing, so a missing key
// never matches another missing key.
func (k Key) Equal(o Key) bool {
	if k.IsZero() || o.IsZero() {
		return false
	}
	eq := subtle.ConstantTimeCompare(bytesOf(k.Secret()), bytesOf(o.Secret()))
	return eq == 1 && k.Prefix() == o.Prefix() && k.Identifier() == o.Identifier()
}

// SecretEqual reports, in constant time, whether secret is k's secret. It is
// always false for the zero Key.
func (k Key) SecretEqual(secret string) bool {
	return !k.IsZero() && subtle.ConstantTimeCompare(bytesOf(k.Secret()), bytesOf(secret)) == 1
}

// String returns the redacted form of k: Start followed by "…".
func (k Key) String() string {
	if k.IsZero() {
		return redacted
	}
	return k.Start() + "…"
}

// Format makes every fmt verb print the redacted form: %q quotes it, all
// other verbs (%v, %+v, %#v, %s, %x, ...) print it as %s would.
func (k Key) Format(f fmt.State, verb rune) {
	if verb != 'q' {
		verb = 's'
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), k.String())
}

// LogValue implements slog.LogValuer with the redacted form.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText implements encoding.TextMarshaler with the redacted form.
// There is deliberately no UnmarshalText: the redacted form can't be parsed.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// MarshalJSON implements json.Marshaler with the redacted form.
func (k Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }
