// Package auditchain makes the audit trail tamper-evident: it encodes an
// audit event canonically, hashes it together with the hash of the event
// before it, and verifies and exports a sequence of events read in order.
// docs/audit.md describes the encoding for auditors who re-verify by hand.
package auditchain
