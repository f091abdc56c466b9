// Package oauth2server is keygate's OAuth 2.0 authorization server for the
// client credentials grant: the token endpoint (RFC 6749 §4.4, client
// authentication by client_secret_basic, client_secret_post or
// private_key_jwt per RFC 7523), introspection (RFC 7662), revocation
// (RFC 7009), the JWKS and the RFC 8414 metadata, as net/http handlers.
package oauth2server
