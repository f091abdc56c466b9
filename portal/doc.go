// Package portal serves the consumer portal: server-rendered pages under
// /portal/ where a partner's or a team's developers sign in (OpenID Connect
// or a local account), see the consumers they act for and their keys, create,
// rotate and revoke keys, request access and pick up an approved key once,
// read their usage and register webhooks. A user sees only the consumers
// their identity maps to; every action is audited as portal:<user>.
package portal
