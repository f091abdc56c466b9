// Package lifecycle moves credentials through their lifecycle: rotation
// with overlap now; expiry notices, scheduled rotation, archival and
// destruction as they come.
package lifecycle
