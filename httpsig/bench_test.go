package httpsig

import (
	"strings"
	"testing"
)

// BenchmarkParseKong: a usual value (the fast path) and the costliest
// shapes at the size limit (Kong's expression).
func BenchmarkParseKong(b *testing.B) {
	const n = MaxKongCredentials
	for _, bc := range []struct{ name, v string }{
		{"usual", `hmac username="alice123", algorithm="hmac-sha256", headers="date host @request-target x-nonce", signature="ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw="`},
		{"quotes in 8KiB", `hmac username="a", algorithm="b", headers="c", signature="` + strings.Repeat(`"`, n-60)},
		{"fields repeated in 8KiB", strings.Repeat(`hmac username="a", algorithm="b", headers="c", `, n/49) + `signature="x`},
		{"delimiters in 8KiB", `hmac username="` + strings.Repeat(`",algorithm="`, (n-40)/13) + `signature="`},
	} {
		if len(bc.v) > n {
			b.Fatalf("%s: %d bytes", bc.name, len(bc.v))
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ParseKong(bc.v)
			}
		})
	}
}
