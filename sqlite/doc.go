// Package sqlite implements keygate.Store on a SQLite file, for single-node
// deployments, with the pure-Go modernc.org/sqlite driver so the binary needs no cgo.
package sqlite
