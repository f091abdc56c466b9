// Package accesstoken issues and verifies OAuth 2.0 access tokens as JWTs
// (RFC 9068), signed by a rotating set of asymmetric keys (ES256, EdDSA)
// whose public halves are published as a JWKS, so a gateway verifies a
// token without asking the store.
package accesstoken
