// Package permquery parses and evaluates permission queries such as
// "documents.read AND (documents.write OR admin)" against a key's
// permission set: compile once (per route, per verify request), evaluate
// without allocating.
package permquery
