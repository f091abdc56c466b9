// Package keyauth verifies API keys — behind a cache of verified keys and of
// misses, so that a hit costs no I/O — and authenticates gateway requests by
// key the way Kong's key-auth plugin does.
package keyauth
