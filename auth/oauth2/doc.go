// Package oauth2 is the gateway's oauth2 route kind: it takes
// "Authorization: Bearer <jwt>" (RFC 6750), verifies the JWT access token
// (RFC 9068) locally against its issuer's published keys (keygate's own, or
// an external identity provider's JWKS), checks the route's scopes and finds
// the consumer the token stands for.
package oauth2
