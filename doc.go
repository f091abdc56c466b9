// Package keygate holds keygate's domain: services, routes, consumers, API keys,
// the errors they produce and the interfaces that store and verify them.
// It imports only the standard library; every other package implements or uses
// these types, and cmd/keygate wires them together.
package keygate
