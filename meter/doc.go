// Package meter counts what the gateway serves — requests allowed and
// refused, and body bytes, per credential, route and minute — in memory on
// the request path, and writes the counts to the store in batches off it.
package meter
