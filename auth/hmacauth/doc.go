// Package hmacauth authenticates gateway requests signed with HMAC
// credentials — in Kong's hmac-auth scheme, as Kong checks it, or as RFC
// 9421 HTTP Message Signatures with hmac-sha256 — behind a cache of
// credentials and their opened secrets, with replay protection.
//
// Where it is stricter than Kong, on purpose:
//   - Only a signed Date or X-Date counts (X-Date first, if signed, then
//     Date): Kong accepts an unsigned one, with which a captured signature
//     can be replayed at any later time. A Kong request that signs neither
//     is refused with Kong's date message; Kong's clients sign date or
//     x-date, as its documentation tells them to.
//   - A signed Digest (Content-Digest covered, on the RFC 9421 path) is
//     checked against the body even without validate_request_body; with it,
//     a request with a body must sign one.
//   - An RFC 9421 signature must cover @method, @authority and the whole
//     target: @target-uri, @request-target, or @path with @query — @path
//     alone for a request without a query, as most clients sign it, so
//     that no query can be added to a request signed without one.
//   - Each accepted signature is remembered until its signed time leaves
//     the widest clock_skew of any route, and each credential has a
//     bounded share of that memory.
package hmacauth
