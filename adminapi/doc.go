// Package adminapi is keygate's admin REST API: JSON over HTTP under /v1/,
// authenticated with bearer admin tokens, with Kong's resource and field
// names. Package client is its Go client.
package adminapi
