// Package sessioncrypto is the wire format of keygate's payload encryption:
// AES-256-GCM envelopes bound to a session, a direction, a method and a path,
// the wrapping of a session key to a client's public key (X25519 through
// HPKE, or RSA-OAEP-256), and the sliding window that refuses a sequence
// number seen twice.
//
// An envelope is
//
//	version (1 byte, 1) || sequence (8 bytes, big-endian, > 0) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// sealed with additional data
//
//	version || sequence || direction ('Q' request, 'R' response) ||
//	len(session id) || session id || len(method) || method || len(path) || path   (lengths uint16, big-endian)
//
// so an envelope opens only for the session, the direction, the method and
// the path it was sealed for, with the sequence number it carries. A
// response is sealed with its request's sequence number.
package sessioncrypto
