// Package console serves the admin console: server-rendered pages on the
// admin listener under /ui/, for admins who sign in with the company's
// OpenID Connect provider or a local account, with roles, server-side
// sessions and CSRF tokens. It acts through the same store calls and key
// actions as the admin API, with the signed-in user as the audit actor.
package console
