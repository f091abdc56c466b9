// Package keyring seals keygate's secrets with envelope encryption, in the
// manner of Vault's barrier: a root key seals versioned key-encryption keys
// (the keyring), and each sealed record gets its own data key, wrapped by the
// newest keyring version. LocalRootKey holds the root key in memory; an
// external KMS is simply another implementation of keygate.RootKey.
//
// All encryption is AES-256-GCM with a random 96-bit nonce. Every blob is
//
//	format (1 byte, 1) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// and is bound to where it belongs by additional data:
//
//	keyring version N, sealed by the root key: "keygate/keyring/v" + decimal N
//	data key, wrapped by keyring version N:    "keygate/datakey\x00" || uint32(N) || rec
//	secret, sealed by its data key:            "keygate/sealed\x00" || rec
//	rec = uint32(len(kind)) || kind || uint32(len(id)) || id   (big-endian)
//
// A data key wraps exactly one secret, so destroying it (crypto-shredding)
// leaves a ciphertext that no keyring version can open. AES-GCM with random
// nonces allows 2^32 messages per key: rotate the keyring long before a
// version has wrapped that many data keys.
package keyring
