package keyauth

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/internal/cpubench"
)

// listedLookup is mapLookup that also lists its identifiers, for a filter.
type listedLookup struct{ mapLookup }

func (l listedLookup) ListKeyIdentifiers(_ context.Context, after string, limit int) ([]string, error) {
	var ids []string
	for id := range l.mapLookup {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(limit, len(ids))], nil
}

// BenchmarkVerifyImported compares, in one run, a cache hit of a keygate
// key (BenchmarkVerify's case), a cache hit of an imported key (which also
// derives its identifier: one more HMAC-SHA256), a foreign value never
// imported (refused by the filter without a store read), and a foreign
// value on a keygate without imported keys (MALFORMED, as before).
func BenchmarkVerifyImported(b *testing.B) {
	format, _ := apikey.NewFormat("kg_live")
	hasher, _ := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	store := mapLookup{}
	normal, _ := format.Generate()
	sum := hasher.Hash(normal)
	store[normal.Identifier()] = &keygate.APIKey{ID: "normal", Consumer: keygate.Ref{ID: "c"}, SecretHash: sum[:], Status: keygate.KeyActive}
	const imported = "5a1c6d2e8f0b4c3a9d7e6f5a4b3c2d1e"
	var id [apikey.IdentifierLen]byte
	hasher.ImportedIdentifier(imported, &id)
	isum := hasher.HashImported(&id, imported)
	store[string(id[:])] = &keygate.APIKey{ID: "imported", Consumer: keygate.Ref{ID: "c"}, SecretHash: isum[:], Status: keygate.KeyActive, Imported: true}

	ctx := context.Background()
	target := keygate.Target{ServiceID: "s", RouteID: "r", IP: netip.MustParseAddr("10.1.2.3")}
	filter := NewFilter(listedLookup{store}, FilterOptions{UnknownReads: -1})
	if err := filter.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	with := NewVerifier(store, format, hasher, Options{Filter: filter})
	with.AcceptImported()
	without := NewVerifier(store, format, hasher, Options{Filter: filter})
	for _, tt := range []struct {
		name string
		v    *Verifier
		key  string
		want keygate.VerifyCode
	}{
		{"keygate key", with, normal.Reveal(), keygate.CodeValid},
		{"imported key", with, imported, keygate.CodeValid},
		{"foreign value never imported", with, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", keygate.CodeNotFound},
		{"foreign value, no imports", without, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", keygate.CodeMalformed},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			defer cpubench.PerOp(b)()
			for b.Loop() {
				res, err := tt.v.VerifyKey(ctx, tt.key, target)
				if err != nil || res.Code != tt.want {
					b.Fatal(fmt.Sprint(res.Code, err))
				}
			}
		})
	}
}
