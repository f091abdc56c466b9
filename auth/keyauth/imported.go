package keyauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"unsafe"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// Imported keys (Kong's, for instance) are any string: a value that is not in
// keygate's key format is tried as one, once this keygate has any. Its
// identifier is derived from it with the pepper (see package apikey), and
// from there it takes the path of every key: the cache, the filter of issued
// identifiers (so a random foreign string is refused without a store read,
// as a random keygate-format key is), the store, the state and restriction
// checks. Until the first key is imported such a value stays MALFORMED and
// costs nothing more than it did.

// AcceptImported makes the verifier try values that are not in keygate's key
// format as imported keys: for when the store holds some at start-up. A
// change that creates one (on this node or, through the change bus, on
// another) turns it on by itself. It is never turned off: a key imported and
// deleted again costs only the derivation of an identifier.
func (v *Verifier) AcceptImported() { v.imported.Store(true) }

// noteImported turns imported keys on when c is about one.
func (v *Verifier) noteImported(c keygate.Change) {
	if apikey.IsImportedIdentifier(c.KeyIdentifier) && !v.imported.Load() {
		v.imported.Store(true)
	}
}

// verifyImported checks raw, which is not in keygate's key format, as an
// imported key.
func (v *Verifier) verifyImported(ctx context.Context, raw string, t keygate.Target) (keygate.VerifyResult, error) {
	if !v.imported.Load() || !apikey.IsImportable(raw) {
		return keygate.VerifyResult{Code: keygate.CodeMalformed}, nil
	}
	var id identifier
	v.hasher.ImportedIdentifier(raw, (*[apikey.IdentifierLen]byte)(&id))
	v.cache.prefetch(&id)
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
	now := v.now()
	e, err := v.entry(ctx, &id, t.IP, now)
	if err != nil {
		return keygate.VerifyResult{}, err
	}
	if e.key == nil || !v.importedMatches(&id, &e, raw, &sum) {
		return keygate.VerifyResult{Code: keygate.CodeNotFound}, nil
	}
	return keygate.VerifyResult{Code: e.check(t, now), Key: e.key, Consumer: e.consumer}, nil
}

// importedMatches is secretMatches for an imported key, whose secret is the
// whole key.
func (v *Verifier) importedMatches(id *identifier, e *entry, raw string, sum *[sha256.Size]byte) bool {
	if e.verified {
		return subtle.ConstantTimeCompare(sum[:], e.secretSum[:]) == 1
	}
	if !v.hasher.VerifyImported((*[apikey.IdentifierLen]byte)(id), raw, e.secretSum[:]) {
		return false
	}
	v.cache.markVerified(id, e.key, sum)
	return true
}
