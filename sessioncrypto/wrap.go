package sessioncrypto

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
)

// Key types a client may send its public key as.
const (
	// X25519 is the default: the session key is sealed with HPKE
	// (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; RFC 9180).
	X25519 = "x25519"
	// RSAOAEP256 is RSA-OAEP with SHA-256 (and MGF1-SHA-256), for clients
	// whose platform has no X25519; keys of 2048 to 8192 bits.
	RSAOAEP256 = "rsa-oaep-256"
)

// RSA key sizes accepted.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// wrapInfo is HPKE's info and RSA-OAEP's label, followed by the session id:
// a wrapped key opens only for the session it was made for.
const wrapInfo = "keygate payload session key v1 "

// PublicKey is a client's public key, parsed and checked.
type PublicKey struct {
	typ string
	x   *ecdh.PublicKey
	rsa *rsa.PublicKey
}

// Type is X25519 or RSAOAEP256.
func (p *PublicKey) Type() string { return p.typ }

// ParsePublicKey parses a client's public key of type typ, given in
// standard base64: the 32 bytes of an X25519 key, or the DER of an RSA
// key's SubjectPublicKeyInfo (PKIX). Errors name what is wrong and never
// echo the input.
func ParsePublicKey(typ, b64 string) (*PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(b64); err != nil {
			return nil, errors.New("public_key: must be base64")
		}
	}
	switch typ {
	case X25519, "":
		k, err := ecdh.X25519().NewPublicKey(raw)
		if err != nil {
			return nil, errors.New("public_key: an x25519 key is 32 bytes")
		}
		return &PublicKey{typ: X25519, x: k}, nil
	case RSAOAEP256:
		k, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return nil, errors.New("public_key: an rsa-oaep-256 key is the DER of a SubjectPublicKeyInfo (PKIX)")
		}
		r, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public_key: a %T is not an RSA key; use key_type x25519 for an X25519 key", k)
		}
		if n := r.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return nil, fmt.Errorf("public_key: an RSA key of %d bits; %d to %d are accepted", n, MinRSABits, MaxRSABits)
		}
		return &PublicKey{typ: RSAOAEP256, rsa: r}, nil
	}
	return nil, fmt.Errorf("key_type: must be %s or %s", X25519, RSAOAEP256)
}

// Wrap seals a session key to the public key, for session sessionID.
func (p *PublicKey) Wrap(sessionID string, key []byte) ([]byte, error) {
	info := []byte(wrapInfo + sessionID)
	switch p.typ {
	case X25519:
		pk, err := hpke.NewDHKEMPublicKey(p.x)
		if err != nil {
			return nil, err
		}
		return hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, key)
	case RSAOAEP256:
		return rsa.EncryptOAEP(sha256.New(), rand.Reader, p.rsa, key, info)
	}
	return nil, errors.New("sessioncrypto: no public key")
}

// ErrUnwrap is returned when a wrapped key does not open: another private
// key, another session, or a changed byte.
var ErrUnwrap = errors.New("sessioncrypto: the session key does not open with this private key and session id")

// UnwrapX25519 opens what Wrap sealed to an X25519 key.
func UnwrapX25519(priv *ecdh.PrivateKey, sessionID string, wrapped []byte) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return nil, errors.New("sessioncrypto: not an X25519 private key")
	}
	k, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	key, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(wrapInfo+sessionID), wrapped)
	if err != nil || len(key) != KeySize {
		return nil, ErrUnwrap
	}
	return key, nil
}

// UnwrapRSA opens what Wrap sealed to an RSA key.
func UnwrapRSA(priv *rsa.PrivateKey, sessionID string, wrapped []byte) ([]byte, error) {
	if priv == nil {
		return nil, errors.New("sessioncrypto: no RSA private key")
	}
	key, err := rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, []byte(wrapInfo+sessionID))
	if err != nil || len(key) != KeySize {
		return nil, ErrUnwrap
	}
	return key, nil
}

// EncodePublicKey is the base64 form ParsePublicKey reads, for clients:
// an *ecdh.PublicKey (X25519) or an *rsa.PublicKey.
func EncodePublicKey(pub any) (typ, b64 string, err error) {
	switch k := pub.(type) {
	case *ecdh.PublicKey:
		if k.Curve() != ecdh.X25519() {
			return "", "", errors.New("sessioncrypto: only X25519 ECDH keys are accepted")
		}
		return X25519, base64.StdEncoding.EncodeToString(k.Bytes()), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", "", err
		}
		return RSAOAEP256, base64.StdEncoding.EncodeToString(der), nil
	}
	return "", "", fmt.Errorf("sessioncrypto: a %T is neither an X25519 nor an RSA public key", pub)
}
