// Package web holds the pieces the admin console and the consumer portal
// share: argon2id password hashes, session token hashes, CSRF tokens and the
// check of a posted form, so both sign people in and refuse forged forms the
// same way; their base stylesheet, served beside each one's own files
// (Static); and the policy headers and panic handling of every answer (Secure).
package web
