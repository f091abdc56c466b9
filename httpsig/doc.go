// Package httpsig holds the HMAC request-signing primitives that the
// gateway's verifier (auth/hmacauth) and the Go client's signer share, so
// that the two cannot drift: Kong's hmac-auth scheme (the Authorization
// value, the signing string, the four algorithms), RFC 9421 HTTP Message
// Signatures with hmac-sha256 (Signature-Input, Signature, the signature
// base), and body digests (RFC 3230 Digest as Kong checks it, RFC 9530
// Content-Digest).
package httpsig
