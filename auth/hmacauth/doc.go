// Package hmacauth authenticates gateway requests signed with HMAC
// credentials — in Kong's hmac-auth scheme, exactly as Kong checks it, or
// as RFC 9421 HTTP Message Signatures with hmac-sha256 — behind a cache of
// credentials and their opened secrets, with replay protection.
package hmacauth
